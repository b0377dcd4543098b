"""EmuHawk command lines for each launch mode, as a pure function (checked, but nothing is started).

The worker listens on 127.0.0.1 first; EmuHawk connects to it because of
``--socket_ip``/``--socket_port`` and runs the bridge from ``--lua``:

- ``windows``: ``EmuHawk.exe --socket_ip=127.0.0.1 --socket_port=P --lua=bridge.lua ROM``
- ``wine``:    ``wine EmuHawk.exe ...`` with Windows paths (``Z:\\...``), under ``xvfb-run -a`` when headless
- ``mono``:    ``EmuHawkMono.sh ...`` (BizHawk's supported Linux build), under ``xvfb-run -a`` when headless
- ``command``: any program taking EmuHawk's flags, e.g. the stand-in
  ``python -m emulator_worker.bizhawk.standin`` that runs the bridge against the simulator.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from emulator_worker.backends.base import BackendUnavailable

MODES = ("windows", "wine", "mono", "command")
RELEASES = "https://github.com/TASEmulators/BizHawk/releases"
WINDOWS_ARCHIVE = "BizHawk-{version}-win-x64.zip"
LINUX_ARCHIVE = "BizHawk-{version}-linux-x64.tar.gz"
SOCKET_IP = "127.0.0.1"  # EmuHawk parses the address as a numeric IP; "localhost" fails


@dataclass(frozen=True)
class LaunchPlan:
    """What to run: argv, extra environment, working folder, and how EmuHawk spells host paths."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path | None
    mode: str
    windows_paths: bool = False
    headless: bool = False
    notes: list[str] = field(default_factory=list)

    def path_for(self, path: Path | str) -> str:
        """``path`` as EmuHawk must see it (Wine maps the Linux root to drive Z:)."""
        return wine_path(path) if self.windows_paths else str(path)


def wine_path(path: Path | str) -> str:
    """The Windows path Wine gives a Linux absolute path (drive Z: is the root folder)."""
    p = Path(path).absolute()
    return str(PureWindowsPath("Z:\\", *p.parts[1:]))


def default_mode(bizhawk_dir: Path, platform: str = sys.platform) -> str:
    """``windows`` on Windows; on Linux ``mono`` for a Linux build, else ``wine`` for a Windows build."""
    if platform == "win32":
        return "windows"
    if (bizhawk_dir / "EmuHawkMono.sh").exists():
        return "mono"
    if (bizhawk_dir / "EmuHawk.exe").exists():
        return "wine"
    return "mono"


def _which(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


def _bizhawk_file(folder: Path, mode: str, name: str, hint: str) -> Path:
    """A file of the BizHawk release that ``mode`` runs, or an error saying which release to unpack."""
    _require_dir(folder, mode)
    path = folder / name
    if not path.is_file():
        raise BackendUnavailable(f"{folder} has no {name}; {hint}")
    return path


def _require_dir(bizhawk_dir: Path, mode: str) -> None:
    archive = WINDOWS_ARCHIVE if mode in ("windows", "wine") else LINUX_ARCHIVE
    if not bizhawk_dir.is_dir():
        raise BackendUnavailable(
            f"BizHawk folder {bizhawk_dir} does not exist. Download {archive.format(version='<version>')} "
            f"from {RELEASES} and unpack it there, then pass its path as backend option bizhawk_dir."
        )


def build_launch(
    mode: str | None,
    bizhawk_dir: str | Path,
    rom: str | Path,
    lua: str | Path,
    port: int,
    *,
    extra_args: Sequence[str] = (),
    xvfb: bool | None = None,
    command: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
) -> LaunchPlan:
    """Check the paths and tools a launch needs and return its plan; raise BackendUnavailable saying what to install.

    ``mode=None`` picks :func:`default_mode`. ``xvfb=None`` means "when there is no DISPLAY"
    (wine and mono only). ``environ`` and ``platform`` default to this process's and exist for tests.
    """
    env_in = dict(os.environ if environ is None else environ)
    folder = Path(bizhawk_dir).expanduser() if bizhawk_dir else Path()
    if mode is None:
        mode = "command" if command else default_mode(folder, platform)
    if mode not in MODES:
        raise ValueError(f"unknown BizHawk launch mode {mode!r}; valid: {list(MODES)}")
    rom_path = Path(rom).expanduser()
    if not rom_path.is_file():
        raise BackendUnavailable(
            f"ROM {rom_path} not found; BizHawk needs a ROM file you own (e.g. a .sfc for the SNES), "
            "passed as backend option rom"
        )
    lua_path = Path(lua)
    if not lua_path.is_file():
        raise BackendUnavailable(f"bridge script {lua_path} is missing; reinstall sf2rl (package data bizhawk/*.lua)")
    env: dict[str, str] = {}
    notes: list[str] = []
    windows_paths = mode == "wine"
    prefix: list[str]

    if mode == "command":
        if not command:
            raise ValueError(
                "mode 'command' needs backend option command, e.g. [python, -m, emulator_worker.bizhawk.standin]"
            )
        program = command[0]
        if _which(program, env_in) is None and not Path(program).is_file():
            raise BackendUnavailable(f"launch command {program!r} not found on PATH")
        prefix = list(command)
    elif mode == "windows":
        exe = _bizhawk_file(
            folder, mode, "EmuHawk.exe",
            f"unpack {WINDOWS_ARCHIVE.format(version='<version>')} from {RELEASES} there "
            "(BizHawk's prerequisites installer adds the .NET/VC++ runtimes it needs)",
        )  # fmt: skip
        prefix = [str(exe)]
    elif mode == "wine":
        exe = _bizhawk_file(
            folder, mode, "EmuHawk.exe",
            f"wine mode runs the Windows build {WINDOWS_ARCHIVE.format(version='<version>')} from {RELEASES}",
        )  # fmt: skip
        wine = _which("wine", env_in) or _which("wine64", env_in)
        if wine is None:
            raise BackendUnavailable(
                "wine not found on PATH; install it (Debian/Ubuntu: apt install wine64, or wine from WineHQ). "
                "BizHawk's maintainers support Linux through mono mode instead"
            )
        prefix = [wine, str(exe)]
        env["WINEDEBUG"] = env_in.get("WINEDEBUG", "-all")  # Wine's fixme chatter would fill the log
        notes.append("Wine is not supported by BizHawk's maintainers; prefer mode 'mono' on Linux")
    else:  # mono
        script = _bizhawk_file(
            folder, mode, "EmuHawkMono.sh",
            f"mono mode runs the Linux build {LINUX_ARCHIVE.format(version='<version>')} from {RELEASES}",
        )  # fmt: skip
        if _which("mono", env_in) is None:
            raise BackendUnavailable(
                "mono not found on PATH; install mono-complete (Debian/Ubuntu: apt install mono-complete). "
                "BizHawk on Linux also needs lua5.4 (liblua5.4-0), OpenAL (libopenal1) and Xvfb when headless"
            )
        prefix = ["/bin/sh", str(script)] if not os.access(script, os.X_OK) else [str(script)]

    headless = False
    if mode in ("wine", "mono"):
        headless = not env_in.get("DISPLAY") if xvfb is None else xvfb
        if headless:
            xvfb_run = _which("xvfb-run", env_in)
            if xvfb_run is None:
                raise BackendUnavailable(
                    "xvfb-run not found on PATH and there is no DISPLAY; EmuHawk needs an X server: "
                    "install xvfb (Debian/Ubuntu: apt install xvfb), or set DISPLAY, or pass xvfb=false"
                )
            # -a picks a free display number, so several instances can run on one host.
            prefix = [xvfb_run, "-a", "-s", "-screen 0 1024x768x24", *prefix]

    def host(p: Path) -> str:
        return wine_path(p) if windows_paths else str(p.absolute())

    argv = [
        *prefix,
        f"--socket_ip={SOCKET_IP}",
        f"--socket_port={int(port)}",
        f"--lua={host(lua_path)}",
        *extra_args,
        host(rom_path),
    ]
    cwd = folder if mode in ("windows", "wine", "mono") else None
    return LaunchPlan(argv, env, cwd, mode, windows_paths, headless, notes)
