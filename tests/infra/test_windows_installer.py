"""infra/windows/install-worker.ps1, checked without PowerShell (pwsh is not packaged for Debian):
a lexer checks that strings, here-strings, comments and brackets are well formed, then the script
is checked for what it must do and for flags that the real `emulator-worker` CLI accepts.
When `pwsh` is on PATH, PowerShell's own parser checks it as well."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "windows" / "install-worker.ps1"
PAIRS = {"(": ")", "{": "}", "[": "]"}


class PSLexError(ValueError):
    """The script is not well formed."""


def ps_code(text: str) -> str:
    """The script with comments and string contents blanked (quotes kept); raises PSLexError on
    unterminated strings, comments or here-strings, and on unbalanced brackets outside strings."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n, line = 0, len(text), 1

    def fail(msg: str) -> PSLexError:
        return PSLexError(f"line {line}: {msg}")

    def skip_double(j: int) -> int:
        """Index after the closing quote of a "..." starting at j (nested $( ) subexpressions included)."""
        j += 1
        while j < n:
            c = text[j]
            if c == "`":
                j += 2
                continue
            if c == '"':
                if j + 1 < n and text[j + 1] == '"':
                    j += 2
                    continue
                return j + 1
            if c == "$" and j + 1 < n and text[j + 1] == "(":
                j = skip_subexpression(j + 1)
                continue
            j += 1
        raise fail("unterminated double-quoted string")

    def skip_subexpression(j: int) -> int:
        depth = 0
        while j < n:
            c = text[j]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return j + 1
            elif c == "'":
                j = skip_single(j) - 1
            elif c == '"':
                j = skip_double(j) - 1
            j += 1
        raise fail("unterminated $( ) in a string")

    def skip_single(j: int) -> int:
        j += 1
        while j < n:
            if text[j] == "'":
                if j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                return j + 1
            j += 1
        raise fail("unterminated single-quoted string")

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if text.startswith("<#", i):
            end = text.find("#>", i + 2)
            if end < 0:
                raise fail("unterminated <# block comment")
            line += text.count("\n", i, end)
            i = end + 2
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith(('@"\n', "@'\n", '@"\r\n', "@'\r\n"), i):
            quote = text[i + 1]
            m = re.compile(rf"^{quote}@", re.M).search(text, i + 2)
            if m is None:
                raise fail(f"unterminated here-string @{quote}")
            line += text.count("\n", i, m.end())
            out.append(f"@{quote}{quote}@")
            i = m.end()
            continue
        if c in "'\"":
            end = skip_single(i) if c == "'" else skip_double(i)
            line += text.count("\n", i, end)
            out.append(c * 2)
            i = end
            continue
        if c == "`":  # escape or line continuation: the next character is not syntax
            out.append(text[i : i + 2])
            i += 2
            continue
        if c in PAIRS:
            stack.append((c, line))
        elif c in PAIRS.values():
            if not stack or PAIRS[stack[-1][0]] != c:
                raise fail(f"unbalanced {c!r}")
            stack.pop()
        out.append(c)
        i += 1
    if stack:
        raise PSLexError(f"line {stack[-1][1]}: {stack[-1][0]!r} never closed")
    return "".join(out)


@pytest.fixture(scope="module")
def text() -> str:
    return SCRIPT.read_text()


@pytest.fixture(scope="module")
def code(text: str) -> str:
    return ps_code(text)


def test_lexer_catches_malformed_scripts() -> None:
    assert ps_code('if ($a) { \'x}\' } # )\n<# ( #>\n$s = @"\n{ ( "\n"@\n').count("{") == 1
    for bad, msg in [
        ("if ($a) { 'x' ", "never closed"),
        ("$x = 'abc", "unterminated single"),
        ('$x = "a $(b', "unterminated"),
        ("foo)", "unbalanced"),
        ("<# x", "block comment"),
        ('$s = @"\nno end\n', "here-string"),
    ]:
        with pytest.raises(PSLexError, match=msg):
            ps_code(bad)


def test_script_is_well_formed(code: str) -> None:
    assert "function Get-VerifiedFile" in code


def test_pwsh_parser_accepts_it_when_available() -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh not installed; the lexer test above stands in for it")
    cmd = (
        f"$e = $null; [System.Management.Automation.Language.Parser]::ParseFile('{SCRIPT}', [ref]$null, [ref]$e)"
        " | Out-Null; if ($e) { $e | ForEach-Object { $_.ToString() }; exit 1 }"
    )
    out = subprocess.run([pwsh, "-NoProfile", "-Command", cmd], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_runs_elevated_on_windows_powershell(text: str) -> None:
    assert "#Requires -RunAsAdministrator" in text and "#Requires -Version 5.1" in text
    assert "$ErrorActionPreference = 'Stop'" in text


def params(text: str) -> dict[str, str]:
    block = text[text.index("param(") : text.index("\n)\n")]
    return {m.group(2): m.group(1) for m in re.finditer(r"\[(\w+(?:\[\])?)\]\$(\w+)", block)}


def test_parameters(text: str) -> None:
    p = params(text)
    assert p["ClusterAddresses"] == "string[]" and p["AuthorizedKey"] == "string[]"
    for name in ("PackageSource", "BizHawkVersion", "BizHawkSha256", "RomPath", "HostKeyDir"):
        assert p[name] == "string"
    assert p["Port"] == "int"
    mandatory = re.findall(r"Mandatory = \$true\)\]\s*(?:\[Validate[^\n]*\]\s*)*\[[\w\[\]]+\]\$(\w+)", text)
    assert set(mandatory) == {"PackageSource", "BizHawkVersion", "BizHawkSha256", "RomPath", "ClusterAddresses"}
    assert "[ValidatePattern('^[0-9a-fA-F]{64}$')]" in text  # a sha256, not anything


def test_firewall_opens_the_port_to_the_cluster_only(code: str, text: str) -> None:
    rule = re.search(r"New-NetFirewallRule(?:[^\n`]|`[\s\S])*", code)  # up to the end of the logical line
    assert rule, "no New-NetFirewallRule"
    call = rule.group(0)
    for part in (
        "-Direction Inbound",
        "-Action Allow",
        "-Protocol TCP",
        "-LocalPort $Port",
        "-RemoteAddress $ClusterAddresses",
    ):
        assert part in call, part
    assert "Remove-NetFirewallRule" in code  # re-running replaces the rule instead of piling them up
    assert "'0.0.0.0/0'" in text and "'Any'" in text  # the whole network is refused as a "cluster"


def test_downloads_are_verified(text: str) -> None:
    from emulator_worker.bizhawk.launcher import RELEASES, WINDOWS_ARCHIVE

    assert "Get-FileHash -LiteralPath $Destination -Algorithm SHA256" in text
    assert 'throw "SHA-256 mismatch' in text
    assert WINDOWS_ARCHIVE.format(version="$BizHawkVersion") in text
    assert f"{RELEASES}/download/$BizHawkVersion/$zipName" in text
    assert "Get-VerifiedFile -Source $url -Destination $zip -Sha256 $BizHawkSha256" in text
    assert "Get-VerifiedFile -Source $PythonInstaller -Destination $installer -Sha256 $PythonSha256" in text


def test_installs_only_the_worker_extra(text: str) -> None:
    assert '"sf2rl[worker] @ $PackageSource"' in text and '[worker]"' in text
    assert "train]" not in text and "[train" not in text


def test_emulator_worker_flags_exist_in_the_cli(text: str) -> None:
    import argparse

    from emulator_worker.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    sub: dict[str, argparse.ArgumentParser] = action.choices
    serve = {o for a in sub["serve"]._actions for o in a.option_strings}
    keygen = {o for a in sub["keygen"]._actions for o in a.option_strings}
    run = text[text.index('"$worker" serve') : text.index('"@ | Set-Content')]
    for flag_ in re.findall(r"(--[a-z-]+)", run):
        assert flag_ in serve, flag_
    assert {"--curve-secret-key", "--authorized-keys", "--bind"} <= set(re.findall(r"(--[a-z-]+)", run))
    assert "tcp://0.0.0.0:$Port" in run  # all interfaces, but only with the keys on the same line
    assert "& $worker keygen $dirs.ServerKeys --name worker" in text and "--name" in keygen


def test_backend_options_match_the_bizhawk_backend(text: str) -> None:
    from emulator_worker.backends.bizhawk import BizHawkBackend
    from emulator_worker.bizhawk.launcher import MODES

    m = re.search(r"\$options = \[ordered\]@\{ (.*) \}", text)
    assert m
    keys = dict(re.findall(r"(\w+) = ([^;]+)", m.group(1)))
    assert set(keys) <= set(inspect.signature(BizHawkBackend.__init__).parameters)
    assert keys["mode"].strip("' ") == "windows" and "windows" in MODES
    # The JSON the .cmd passes, escaped by the script's own Replace(...) and read back the way the
    # C runtime splits a Windows command line: the worker must get the JSON itself.
    options = {"rom": "C:/sf2rl/roms/sf2.sfc", "bizhawk_dir": "C:/BizHawk", "mode": "windows"}
    sample = json.dumps(options, separators=(",", ":"))
    escaped = _powershell_replace(text, "$json = ($options | ConvertTo-Json -Compress)", sample)
    line = f'serve --backend-options "{escaped}" --slots 2'
    assert _windows_argv(line) == ["serve", "--backend-options", sample, "--slots", "2"]
    assert _windows_argv(f'serve --backend-options "{sample}"') != ["serve", "--backend-options", sample]


def _powershell_replace(text: str, prefix: str, value: str) -> str:
    """Apply the ``.Replace('a', 'b')`` calls the script chains after ``prefix`` (single-quoted literals)."""
    start = text.index(prefix) + len(prefix)
    chain = text[start : text.index("\n", start)]
    calls = re.findall(r"\.Replace\('((?:[^']|'')*)', '((?:[^']|'')*)'\)", chain)
    assert calls, chain
    for old, new in calls:
        value = value.replace(old.replace("''", "'"), new.replace("''", "'"))
    return value


def _windows_argv(line: str) -> list[str]:
    """Split a command line as the Microsoft C runtime does (CommandLineToArgvW's rules)."""
    args: list[str] = []
    current, quoted, started, i = [], False, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if i + n < len(line) and line[i + n] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += n + 1
                else:
                    i += n
                started = True
                continue
            current.append("\\" * n)
            i += n
            started = True
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c in " \t" and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(c)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


def test_runs_as_a_restarting_scheduled_task(code: str, text: str) -> None:
    for cmdlet in (
        "New-ScheduledTaskAction",
        "New-ScheduledTaskTrigger -AtStartup",
        "New-ScheduledTaskPrincipal",
        "New-ScheduledTaskSettingsSet",
        "Register-ScheduledTask",
        "Start-ScheduledTask",
        "Unregister-ScheduledTask",
    ):
        assert cmdlet in text, cmdlet
    assert "-RestartCount" in text and "-ExecutionTimeLimit ([TimeSpan]::Zero)" in text
    assert "NT AUTHORITY\\LOCAL SERVICE" in text  # not SYSTEM: the worker needs no administrator rights
    assert "/inheritance:r" in text  # the host's secret key is not readable by everyone
