"""EmuHawk command lines for windows, wine, mono and command modes, and the errors for what is missing."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from emulator_worker.backends import BackendUnavailable
from emulator_worker.bizhawk import bridge_script
from emulator_worker.bizhawk.launcher import build_launch, default_mode, wine_path

LUA = bridge_script()


def _exe(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def rom(tmp_path: Path) -> Path:
    path = tmp_path / "roms" / "Super Street Fighter II Turbo (USA).sfc"
    path.parent.mkdir()
    path.write_bytes(b"\0" * 16)
    return path


def _env(tmp_path: Path, *tools: str, display: str | None = None) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        _exe(bin_dir, tool)
    env = {"PATH": str(bin_dir)}
    if display:
        env["DISPLAY"] = display
    return env


def test_windows_command_line(tmp_path: Path, rom: Path) -> None:
    exe = _exe(tmp_path / "BizHawk", "EmuHawk.exe")
    plan = build_launch("windows", tmp_path / "BizHawk", rom, LUA, 50123, environ={}, platform="win32")
    assert plan.argv == [str(exe), "--socket_ip=127.0.0.1", "--socket_port=50123", f"--lua={LUA}", str(rom)]
    assert plan.cwd == tmp_path / "BizHawk" and not plan.headless and plan.path_for(rom) == str(rom)


def test_wine_command_line_uses_windows_paths(tmp_path: Path, rom: Path) -> None:
    exe = _exe(tmp_path / "BizHawk", "EmuHawk.exe")
    env = _env(tmp_path, "wine", display=":0")
    plan = build_launch("wine", tmp_path / "BizHawk", rom, LUA, 7, environ=env, extra_args=["--chromeless"])
    assert plan.argv == [
        str(tmp_path / "bin" / "wine"), str(exe), "--socket_ip=127.0.0.1", "--socket_port=7",
        f"--lua={wine_path(LUA)}", "--chromeless", wine_path(rom),
    ]  # fmt: skip
    assert plan.argv[-1].startswith("Z:\\") and plan.argv[-1].endswith(
        "\\roms\\Super Street Fighter II Turbo (USA).sfc"
    )
    assert plan.env["WINEDEBUG"] == "-all" and plan.path_for(tmp_path) == wine_path(tmp_path)
    assert wine_path("/srv/a b/x.State") == "Z:\\srv\\a b\\x.State"


def test_wine_headless_runs_under_xvfb(tmp_path: Path, rom: Path) -> None:
    _exe(tmp_path / "BizHawk", "EmuHawk.exe")
    env = _env(tmp_path, "wine64", "xvfb-run")
    plan = build_launch("wine", tmp_path / "BizHawk", rom, LUA, 7, environ=env)
    assert plan.headless and plan.argv[:4] == [str(tmp_path / "bin" / "xvfb-run"), "-a", "-s", "-screen 0 1024x768x24"]
    assert plan.argv[4] == str(tmp_path / "bin" / "wine64")
    forced = build_launch("wine", tmp_path / "BizHawk", rom, LUA, 7, environ={**env, "DISPLAY": ":1"}, xvfb=True)
    assert forced.argv[0].endswith("xvfb-run")


def test_mono_command_line(tmp_path: Path, rom: Path) -> None:
    script = _exe(tmp_path / "BizHawk", "EmuHawkMono.sh")
    env = _env(tmp_path, "mono", "xvfb-run")
    plan = build_launch("mono", tmp_path / "BizHawk", rom, LUA, 9000, environ=env)
    assert plan.argv == [
        str(tmp_path / "bin" / "xvfb-run"), "-a", "-s", "-screen 0 1024x768x24",
        str(script), "--socket_ip=127.0.0.1", "--socket_port=9000", f"--lua={LUA}", str(rom),
    ]  # fmt: skip
    with_display = build_launch("mono", tmp_path / "BizHawk", rom, LUA, 9000, environ={**env, "DISPLAY": ":0"})
    assert with_display.argv[0] == str(script) and not with_display.headless


def test_command_mode_appends_emuhawks_flags(tmp_path: Path, rom: Path) -> None:
    plan = build_launch(None, "", rom, LUA, 1, command=[sys.executable, "-m", "emulator_worker.bizhawk.standin"])
    assert plan.mode == "command" and plan.cwd is None
    assert plan.argv == [sys.executable, "-m", "emulator_worker.bizhawk.standin", "--socket_ip=127.0.0.1",
                         "--socket_port=1", f"--lua={LUA}", str(rom)]  # fmt: skip
    with pytest.raises(BackendUnavailable, match="not found on PATH"):
        build_launch("command", "", rom, LUA, 1, command=["no-such-emuhawk"], environ={"PATH": str(tmp_path)})
    with pytest.raises(ValueError, match="needs backend option command"):
        build_launch("command", "", rom, LUA, 1)


def test_default_mode_follows_platform_and_build(tmp_path: Path) -> None:
    assert default_mode(tmp_path, "win32") == "windows"
    _exe(tmp_path / "win", "EmuHawk.exe")
    _exe(tmp_path / "linux", "EmuHawkMono.sh")
    assert default_mode(tmp_path / "win", "linux") == "wine"
    assert default_mode(tmp_path / "linux", "linux") == "mono"


@pytest.mark.parametrize(
    ("mode", "archive"), [("windows", "win-x64.zip"), ("wine", "win-x64.zip"), ("mono", "linux-x64.tar.gz")]
)
def test_missing_bizhawk_folder_names_the_release_to_download(
    tmp_path: Path, rom: Path, mode: str, archive: str
) -> None:
    with pytest.raises(BackendUnavailable, match=rf"BizHawk-<version>-{archive}.*releases"):
        build_launch(mode, tmp_path / "nowhere", rom, LUA, 1, environ=_env(tmp_path, "wine", "mono", "xvfb-run"))


def test_folder_without_emuhawk(tmp_path: Path, rom: Path) -> None:
    (tmp_path / "BizHawk").mkdir()
    with pytest.raises(BackendUnavailable, match=r"no EmuHawk\.exe"):
        build_launch("windows", tmp_path / "BizHawk", rom, LUA, 1, environ={})
    with pytest.raises(BackendUnavailable, match=r"no EmuHawkMono\.sh.*linux-x64"):
        build_launch("mono", tmp_path / "BizHawk", rom, LUA, 1, environ=_env(tmp_path, "mono"))


def test_missing_rom(tmp_path: Path) -> None:
    _exe(tmp_path / "BizHawk", "EmuHawk.exe")
    with pytest.raises(BackendUnavailable, match=r"ROM .*missing\.sfc not found.*you own"):
        build_launch("windows", tmp_path / "BizHawk", tmp_path / "missing.sfc", LUA, 1, environ={})


def test_missing_wine_mono_or_xvfb_say_what_to_install(tmp_path: Path, rom: Path) -> None:
    _exe(tmp_path / "BizHawk", "EmuHawk.exe")
    _exe(tmp_path / "BizHawk", "EmuHawkMono.sh")
    with pytest.raises(BackendUnavailable, match="apt install wine64"):
        build_launch("wine", tmp_path / "BizHawk", rom, LUA, 1, environ=_env(tmp_path, display=":0"))
    with pytest.raises(BackendUnavailable, match="install mono-complete"):
        build_launch("mono", tmp_path / "BizHawk", rom, LUA, 1, environ=_env(tmp_path, display=":0"))
    with pytest.raises(BackendUnavailable, match="apt install xvfb"):
        build_launch("mono", tmp_path / "BizHawk", rom, LUA, 1, environ=_env(tmp_path, "mono"))


def test_unknown_mode(tmp_path: Path, rom: Path) -> None:
    with pytest.raises(ValueError, match="unknown BizHawk launch mode 'dos'"):
        build_launch("dos", tmp_path, rom, LUA, 1)
