"""`emulator-worker`: serve emulator slots, ping a host, make CurveZMQ keys."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from emulator_worker import protocol as p
from emulator_worker.backends import BACKENDS
from emulator_worker.instances import SPIN_US
from emulator_worker.server import HostConfig, WorkerHost, is_local


def _serve(args: argparse.Namespace) -> int:
    options = json.loads(args.backend_options)
    if args.authorized_keys and not args.curve_secret_key:
        print("--authorized-keys needs --curve-secret-key (the host's own key pair)", file=sys.stderr)
        return 2
    if not is_local(args.bind) and not args.curve_secret_key:
        print(
            f"warning: {args.bind} is reachable from the network without CurveZMQ; "
            "pass --curve-secret-key and --authorized-keys (see `emulator-worker keygen`)",
            file=sys.stderr,
        )
    config = HostConfig(
        backend=args.backend,
        backend_options=options,
        slots=args.slots,
        bind=args.bind,
        curve_secret_key=Path(args.curve_secret_key) if args.curve_secret_key else None,
        authorized_keys=Path(args.authorized_keys) if args.authorized_keys else None,
        parent_pid=args.parent_pid,
        idle_exit=args.idle_exit,
        instance_timeout=args.instance_timeout,
        direct=False if args.no_direct else (True if args.direct_ports is not None else None),
        direct_port_base=args.direct_ports,
        spin_us=args.spin_us,
        games_per_instance=args.games_per_instance,
    )
    try:
        host = WorkerHost(config)
    except ValueError as e:
        print(f"{e}", file=sys.stderr)
        return 2
    except zmq.ZMQError as e:
        print(f"cannot bind {args.bind}: {e}; pick a free port or another --bind", file=sys.stderr)
        return 2
    host.serve_forever()
    return 0


def ping(endpoint: str, timeout_ms: int = 3000, curve: tuple[bytes, bytes, bytes] | None = None) -> dict[str, object]:
    """HELLO a host once; return its description plus the round-trip time in ms."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
    sock.connect(endpoint)
    try:
        t0 = time.perf_counter()
        sock.send_multipart(p.encode_request(p.Hello(id=1)))
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
    curve = load_client_curve(args.server_key, args.client_key) if args.server_key else None
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


def _keygen(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(out), args.name)
    print(f"public key: {public}\nsecret key: {secret}  (keep private)")
    print(
        f"share only {Path(public).name}: a host lists its clients' public keys in --authorized-keys; "
        "clients name the host's public key as server_key (emulator-worker ping --server-key)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = argparse.ArgumentParser(prog="emulator-worker", description=__doc__)
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
    s.add_argument("--parent-pid", type=int, help="exit when this process dies (trial-owned pools)")
    s.add_argument("--idle-exit", type=float, help="exit after this many seconds with no lease")
    s.add_argument("--instance-timeout", type=float, default=60.0, help="restart an instance stuck this long")
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
