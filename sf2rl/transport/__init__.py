"""Transport: reaching an emulator, in this process or on a worker host over ZeroMQ.

The client (timeouts, retries, heartbeats), the emulator handle the env drives
(local or remote, one error mapping) and the pools a trial owns.
"""
