"""`emulator-worker`: serve emulator slots, ping a host, make CurveZMQ keys."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import zmq
import zmq.auth

from emulator_worker import protocol as p
from emulator_worker.backends import BACKENDS
from emulator_worker.instances import SPIN_US
from emulator_worker.server import HostConfig, WorkerHost, is_local

SECRET_MODE = 0o600
KEY_DIR_MODE = 0o700


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(message: str) -> int:
    print(f"emulator-worker: {message}", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    try:
        options = json.loads(args.backend_options)
    except ValueError as e:
        return _fail(f"--backend-options is not valid JSON ({e}): {args.backend_options!r}")
    if not isinstance(options, dict):
        return _fail(f"--backend-options must be a JSON object, got {args.backend_options!r}")
    config = HostConfig(
        backend=args.backend,
        backend_options=options,
        slots=args.slots,
        bind=args.bind,
        curve_secret_key=Path(args.curve_secret_key) if args.curve_secret_key else None,
        authorized_keys=Path(args.authorized_keys) if args.authorized_keys else None,
        allow_any_client=args.allow_any_client,
        parent_pid=args.parent_pid,
        idle_exit=args.idle_exit,
        instance_timeout=args.instance_timeout,
        start_timeout=args.start_timeout,
        breaker_cooldown=args.breaker_cooldown,
        direct=False if args.no_direct else (True if args.direct_ports is not None else None),
        direct_port_base=args.direct_ports,
        spin_us=args.spin_us,
        games_per_instance=args.games_per_instance,
    )
    try:
        host = WorkerHost(config)  # checks the settings and the key files first
    except ValueError as e:
        return _fail(str(e))
    except zmq.ZMQError as e:
        return _fail(f"cannot bind {args.bind}: {e}; pick a free port or another --bind")
    except OSError as e:
        return _fail(f"cannot start the host: {e}")
    if config.curve_secret_key is None and not is_local(args.bind):
        print(
            f"warning: {args.bind} is reachable from the network without CurveZMQ; "
            "pass --curve-secret-key and --authorized-keys (see `emulator-worker keygen`)",
            file=sys.stderr,
        )
    elif config.allow_any_client:
        print(
            f"warning: --allow-any-client: CurveZMQ encrypts but admits every client; anyone who reaches "
            f"{args.bind} can lease and drive its emulators (pass --authorized-keys to choose who)",
            file=sys.stderr,
        )
    host.serve_forever()
    return 0


def ping(endpoint: str, timeout_ms: int = 3000, curve: tuple[bytes, bytes, bytes] | None = None) -> dict[str, object]:
    """HELLO a host once; return its description plus the round-trip time in ms."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    # A host that refuses the handshake (Curve keys it does not list) leaves the DEALER with no peer,
    # and a DEALER with no peer blocks on send: the timeout covers sending too.
    sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
    if curve is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
    sock.connect(endpoint)
    try:
        t0 = time.perf_counter()
        try:
            sock.send_multipart(p.encode_request(p.Hello(id=1)))
        except zmq.Again:
            raise TimeoutError(f"no answer from {endpoint} within {timeout_ms} ms (no connection)") from None
        if not sock.poll(timeout_ms):
            raise TimeoutError(f"no answer from {endpoint} within {timeout_ms} ms")
        reply = p.decode_reply(sock.recv_multipart())
        rtt = (time.perf_counter() - t0) * 1000
    finally:
        sock.close(0)
    if isinstance(reply, p.ErrorReply):
        raise RuntimeError(f"{reply.type.value}: {reply.message}")
    p.parse_reply(p.Command.HELLO, reply)  # a host that answers HELLO with the wrong fields is an error
    return {**reply.fields, "rtt_ms": round(rtt, 3)}


def load_client_curve(server_public: str, client_secret: str) -> tuple[bytes, bytes, bytes]:
    """Read (server public, client public, client secret) keys from certificate files."""
    server_key, _ = zmq.auth.load_certificate(server_public)
    public, secret = zmq.auth.load_certificate(client_secret)
    if secret is None:
        raise ValueError(f"{client_secret} holds no secret key")
    return server_key, public, secret


def _ping(args: argparse.Namespace) -> int:
    if bool(args.server_key) != bool(args.client_key):
        return _fail("ping with CurveZMQ needs both --server-key and --client-key")
    try:
        curve = load_client_curve(args.server_key, args.client_key) if args.server_key else None
    except (OSError, ValueError) as e:
        return _fail(f"cannot read the keys: {e}")
    try:
        info = ping(args.endpoint, args.timeout_ms, curve)
    except (TimeoutError, RuntimeError) as e:
        print(f"ping failed: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info))
    else:
        print(
            f"{args.endpoint}: protocol v{info['version']} backend={info['backend']} "
            f"slots {info['free']}/{info['slots']} free, rtt {info['rtt_ms']:.2f} ms"
        )
    return 0


def write_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` and ``name.key_secret`` into ``folder`` (made 0700); the secret file is 0600."""
    folder.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    if sys.platform != "win32" and folder.stat().st_mode & 0o077:
        os.chmod(folder, KEY_DIR_MODE)  # an existing folder too: nobody else may list or enter it
        print(f"note: {folder} is now mode 0700 (it holds a secret key)", file=sys.stderr)
    old_umask = os.umask(0o077)  # never, not even for a moment, readable by others
    try:
        public, secret = zmq.auth.create_certificates(str(folder), name)
    finally:
        os.umask(old_umask)
    os.chmod(secret, SECRET_MODE)  # create_certificates keeps the mode of a file it overwrites
    os.chmod(public, 0o644)  # the public half is meant to be shared
    return Path(public), Path(secret)


def _keygen(args: argparse.Namespace) -> int:
    if not args.name or "/" in args.name or "\\" in args.name or args.name in (".", ".."):
        return _fail(f"--name must be a plain file name, got {args.name!r}")
    try:
        public, secret = write_key_pair(Path(args.dir), args.name)
    except OSError as e:
        return _fail(f"cannot write keys into {args.dir}: {e}")
    print(f"public key: {public}\nsecret key: {secret}  (keep private; mode 0600 in a 0700 folder)")
    print(
        f"share only {Path(public).name}: a host lists its clients' public keys in --authorized-keys; "
        "clients name the host's public key as server_key (emulator-worker ping --server-key)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = _Parser(prog="emulator-worker", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve emulator slots over ZeroMQ")
    s.add_argument("--backend", choices=sorted(BACKENDS), default="sim")
    s.add_argument("--backend-options", default="{}", help="JSON object of backend options (game, rom, paths)")
    s.add_argument("--slots", type=int, default=1, help="emulator slots (games) to serve")
    s.add_argument(
        "--games-per-instance", type=int, default=1, metavar="N",
        help="games each instance process runs (sim only): a client stepping a process's games together "
        "wakes it once instead of N times, which saves CPU per step (docs/training-speed.md)",
    )  # fmt: skip
    s.add_argument("--bind", default="tcp://127.0.0.1:5555", help="endpoint to bind; loopback by default")
    s.add_argument("--curve-secret-key", help="host key pair file (.key_secret) to require CurveZMQ")
    s.add_argument("--authorized-keys", help="folder of client public keys (.key) allowed to connect")
    s.add_argument(
        "--allow-any-client", action="store_true",
        help="with --curve-secret-key but no --authorized-keys: admit every client (encrypted, not "
        "authenticated; warns)",
    )  # fmt: skip
    s.add_argument("--parent-pid", type=int, help="exit when this process dies (trial-owned pools)")
    s.add_argument("--idle-exit", type=float, help="exit after this many seconds with no lease")
    s.add_argument("--instance-timeout", type=float, default=60.0, help="restart an instance stuck this long")
    s.add_argument(
        "--start-timeout", type=float, default=120.0,
        help="restart an instance that is not ready this many seconds after it was started",
    )  # fmt: skip
    s.add_argument(
        "--breaker-cooldown", type=float, default=30.0, metavar="S",
        help="a slot whose instance crash-loops (or cannot start) answers every request with an error "
        "for S seconds, then its instance is tried again",
    )  # fmt: skip
    s.add_argument("--no-direct", action="store_true", help="route every request through the host (one port)")
    s.add_argument(
        "--direct-ports", type=int, metavar="START",
        help="let lessees reach instance i directly on port START+i (open them in the firewall); "
        "without it, direct access is only offered on loopback binds",
    )  # fmt: skip
    s.add_argument(
        "--spin-us", type=int, default=SPIN_US, metavar="US",
        help=f"after a reply, an instance polls this long for its client's next step before sleeping "
        f"(default {SPIN_US}; 0 saves that CPU at the cost of a wake-up per step)",
    )  # fmt: skip
    s.set_defaults(func=_serve)
    g = sub.add_parser("ping", help="report a host's version, backend, free slots and round-trip time")
    g.add_argument("endpoint")
    g.add_argument("--timeout-ms", type=int, default=3000)
    g.add_argument("--server-key", help="host public key file, for CurveZMQ")
    g.add_argument("--client-key", help="client key pair file (.key_secret), for CurveZMQ")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_ping)
    k = sub.add_parser("keygen", help="create a CurveZMQ key pair")
    k.add_argument("dir")
    k.add_argument("--name", default="worker")
    k.set_defaults(func=_keygen)
    return ap


def main(argv: list[str] | None = None) -> None:
    """Entry point of `emulator-worker`."""
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
