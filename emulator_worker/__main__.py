"""`python -m emulator_worker` is `emulator-worker`."""

from emulator_worker.cli import main

main()
