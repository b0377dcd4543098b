#!/usr/bin/env python3
"""Hosts on one machine: Linux network namespaces on a private bridge, each with its own address.

The multi-node tests and `sf2rl bench --only remote` use it to run a Ray head, a Ray worker node
and an emulator host as separate hosts, joined by a real network path (veth pairs and a bridge)
instead of loopback. It needs root and iproute2 (`ip`); `tc netem` is not needed.

Everything it makes carries one random tag (namespaces ``sf2-<tag>-<name>``, bridge ``sf2b<tag>``,
veths ``sf2<tag><i>``), and :meth:`Lab.close` removes exactly those, the processes in its
namespaces first. Addresses come from 198.18.0.0/15 (RFC 2544, for benchmarking) and are assigned
only inside the namespaces; the bridge in the root namespace has none, so nothing outside the lab
can reach the lab or be reached from it.

    sudo python infra/netns.py up head node emu     # prints the tag and each host's address
    sudo ip netns exec sf2-<tag>-emu emulator-worker serve --bind tcp://198.18.x.3:5555
    sudo python infra/netns.py down <tag>

Standard library only: the bench and the tests load this file by path.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field


class LabUnavailable(RuntimeError):
    """This machine cannot build namespaces (not root, no `ip`, or the kernel refuses)."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be built here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run as root or with sudo)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    return None


def _ip(*args: str) -> None:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise LabUnavailable(f"ip {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")


@dataclass
class Lab:
    """A private bridge and one namespace per host name; use as a context manager."""

    names: tuple[str, ...]
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = field(default_factory=lambda: 1 + secrets.randbelow(254))
    """Third octet: the lab's hosts are 198.18.<subnet>.<1..n>."""
    made: list[tuple[str, str]] = field(default_factory=list)
    """What exists so far, in creation order: ("netns", name) or ("link", name)."""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"sf2b{self.tag}"

    def ns(self, name: str) -> str:
        """The namespace of host ``name``."""
        return f"sf2-{self.tag}-{name}"

    def addr(self, name: str) -> str:
        """Host ``name``'s address."""
        return f"198.18.{self.subnet}.{self.names.index(name) + 1}"

    def up(self) -> Lab:
        """Build the bridge, the namespaces and their links; on any failure, undo what was built."""
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self.made.append(("link", self.bridge))
            _ip("link", "set", self.bridge, "up")
            for i, name in enumerate(self.names):
                ns, host_end = self.ns(name), f"sf2{self.tag}{i}"
                _ip("netns", "add", ns)
                self.made.append(("netns", ns))
                _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
                self.made.append(("link", host_end))
                _ip("link", "set", host_end, "master", self.bridge, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{self.addr(name)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def cmd(self, name: str, *argv: str) -> list[str]:
        """``argv`` run on host ``name``."""
        return ["ip", "netns", "exec", self.ns(name), *argv]

    def run(self, name: str, *argv: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on host ``name`` to completion (output captured as text)."""
        return subprocess.run(self.cmd(name, *argv), capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload, no-any-return]

    def popen(self, name: str, *argv: str, **kw: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` on host ``name`` in a process group of its own; stopped by :meth:`close`."""
        proc = subprocess.Popen(self.cmd(name, *argv), start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def pids(self, name: str) -> list[int]:
        """Every process in host ``name``'s namespace (all of them started by this lab)."""
        out = subprocess.run(["ip", "netns", "pids", self.ns(name)], capture_output=True, text=True, timeout=30)
        return [int(p) for p in out.stdout.split()]

    def kill_host(self, name: str, sig: int = signal.SIGKILL, timeout: float = 20) -> None:
        """Send ``sig`` to every process on host ``name`` (a power cut), and wait until they are gone."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids(name)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
            sig = signal.SIGKILL

    def close(self) -> None:
        """Stop every process in the lab's namespaces, then delete what the lab made (newest first)."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for kind, name in self.made:
            if kind == "netns":
                self.kill_host(name.rsplit("-", 1)[1], signal.SIGTERM, timeout=10)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        for kind, name in reversed(self.made):
            # Deleting a namespace deletes its veth end, which takes the bridge-side end with it.
            args = ["netns", "delete", name] if kind == "netns" else ["link", "delete", name]
            subprocess.run(["ip", *args], capture_output=True, timeout=30)
        self.made.clear()

    def __enter__(self) -> Lab:
        return self.up() if not self.made else self

    def __exit__(self, *exc: object) -> None:
        self.close()


def existing(tag: str) -> list[tuple[str, str]]:
    """What a lab with ``tag`` left behind (for `down` after a crash)."""
    found: list[tuple[str, str]] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    found += [("netns", line.split()[0]) for line in netns if line.startswith(f"sf2-{tag}-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.split("\n")
    for line in links:
        parts = line.split(": ")
        if len(parts) > 1 and parts[1].split("@")[0] in (f"sf2b{tag}",):
            found.append(("link", parts[1].split("@")[0]))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="netns.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    u = sub.add_parser("up", help="build a lab and print its tag and addresses")
    u.add_argument("names", nargs="+")
    d = sub.add_parser("down", help="remove a lab built by `up` (its processes first)")
    d.add_argument("tag")
    args = ap.parse_args(argv)
    if args.command == "up":
        lab = Lab(tuple(args.names)).up()
        print(f"tag {lab.tag}")
        for name in lab.names:
            print(f"{name}: namespace {lab.ns(name)} address {lab.addr(name)}")
        return 0
    made = existing(args.tag)
    if not made:
        print(f"nothing tagged {args.tag}", file=sys.stderr)
        return 1
    lab = Lab(tuple(n.rsplit("-", 1)[1] for k, n in made if k == "netns"), tag=args.tag, made=made)
    lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
