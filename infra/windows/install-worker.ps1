#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Turn a Windows PC into an sf2rl emulator worker host: Python 3.11, sf2rl[worker], BizHawk,
    CurveZMQ keys, a scheduled task that keeps `emulator-worker serve` running, and a firewall
    rule that opens the ZeroMQ port to the Ray cluster only.

.DESCRIPTION
    Safe to run again: existing keys are kept, the task and the firewall rule are replaced.
    Why a scheduled task and not a Windows service: `emulator-worker` is a console program, and
    the Service Control Manager stops any program that does not speak its protocol within 30 s;
    a service would need a third-party wrapper (NSSM, WinSW) downloaded from outside. Task
    Scheduler is built in, starts the worker at boot without anyone logging on, and restarts it
    when it exits. -RunAt Logon runs it in the desktop session of the installing user instead,
    for BizHawk display settings that need a visible desktop (see infra/windows/README.md).

.EXAMPLE
    .\install-worker.ps1 -PackageSource C:\Downloads\sf2rl-0.1.0-py3-none-any.whl `
        -BizHawkVersion 2.11.1 -BizHawkSha256 <sha256 of BizHawk-2.11.1-win-x64.zip> `
        -RomPath C:\roms\sf2.sfc -ClusterAddresses 10.20.0.0/16 `
        -HostKeyDir C:\Downloads\keys -AuthorizedKey C:\Downloads\keys\cluster.key
#>
[CmdletBinding()]
param(
    # sf2rl to install: a wheel or source folder on disk, or an http(s) URL of a wheel.
    [Parameter(Mandatory = $true)]
    [string]$PackageSource,

    # BizHawk release to download, and the SHA-256 of its BizHawk-<version>-win-x64.zip.
    [Parameter(Mandatory = $true)]
    [string]$BizHawkVersion,
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{64}$')]
    [string]$BizHawkSha256,

    # The ROM you own, e.g. an SNES .sfc. Never shipped with sf2rl.
    [Parameter(Mandatory = $true)]
    [string]$RomPath,

    # Addresses allowed through the firewall: the Ray cluster's nodes as IPs or CIDR ranges.
    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string[]]$ClusterAddresses,

    # Public keys (*.key from `emulator-worker keygen`) of the clients allowed to connect.
    [string[]]$AuthorizedKey = @(),

    # A folder with the host key pair (worker.key, worker.key_secret) to use instead of making one:
    # a sweep names one server_key for all its endpoints, so the hosts of one pool share a pair.
    [string]$HostKeyDir = '',

    [ValidateRange(1024, 65535)]
    [int]$Port = 5555,
    [ValidateRange(1, 64)]
    [int]$Slots = 2,
    [string]$InstallDir = 'C:\sf2rl',
    [string]$TaskName = 'sf2rl-worker',
    [ValidateSet('Startup', 'Logon')]
    [string]$RunAt = 'Startup',

    # Only needed when Python 3.11 is missing: installer path or URL, and its SHA-256.
    [string]$PythonInstaller = 'https://www.python.org/ftp/python/3.11.9/python-3.11.9-amd64.exe',
    [string]$PythonSha256 = '',

    # Optional pins for pip (the project's constraints.txt).
    [string]$Constraints = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'  # Invoke-WebRequest is many times slower with a progress bar
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

function Write-Step([string]$Message) { Write-Host "==> $Message" -ForegroundColor Cyan }

function Get-VerifiedFile([string]$Source, [string]$Destination, [string]$Sha256) {
    # Download (or copy) a file and refuse it unless its SHA-256 is the expected one.
    if ($Source -match '^https?://') {
        Invoke-WebRequest -Uri $Source -OutFile $Destination -UseBasicParsing
    } else {
        Copy-Item -LiteralPath $Source -Destination $Destination -Force
    }
    $actual = (Get-FileHash -LiteralPath $Destination -Algorithm SHA256).Hash
    if ($actual -ne $Sha256.ToUpperInvariant()) {
        Remove-Item -LiteralPath $Destination -Force
        throw "SHA-256 mismatch for ${Source}: expected $Sha256, got $actual"
    }
}

function Find-Python311 {
    # The py launcher knows every registered interpreter; fall back to the default install path.
    $py = Get-Command py.exe -ErrorAction SilentlyContinue
    if ($py) {
        $exe = & $py.Source -3.11 -c 'import sys; print(sys.executable)' 2>$null
        if ($LASTEXITCODE -eq 0 -and $exe) { return $exe.Trim() }
    }
    $default = Join-Path $env:ProgramFiles 'Python311\python.exe'
    if (Test-Path -LiteralPath $default) { return $default }
    return $null
}

function Grant-Access([string]$Path, [string]$Account, [string]$Rights) {
    # icacls, not Set-Acl: it takes SIDs (*S-1-5-19) as well as account names, in one call, recursively.
    & icacls.exe $Path /grant "${Account}:(OI)(CI)$Rights" /T /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls could not grant $Account $Rights on $Path" }
}

# ---------------------------------------------------------------- checks
if (-not (Test-Path -LiteralPath $RomPath -PathType Leaf)) { throw "ROM not found: $RomPath" }
if ($HostKeyDir -and -not (Test-Path -LiteralPath (Join-Path $HostKeyDir 'worker.key_secret'))) {
    throw "$HostKeyDir holds no worker.key_secret (make one with: emulator-worker keygen DIR --name worker)"
}
foreach ($key in $AuthorizedKey) {
    if (-not (Test-Path -LiteralPath $key -PathType Leaf)) { throw "authorized key not found: $key" }
    if ($key -like '*.key_secret') { throw "$key is a secret key; pass the public .key file" }
}
if ($ClusterAddresses -contains 'Any' -or $ClusterAddresses -contains '0.0.0.0/0') {
    throw 'ClusterAddresses must name the cluster, not the whole network'
}
# The account the worker runs as; for icacls, LOCAL SERVICE by its SID, which no locale renames.
$account = if ($RunAt -eq 'Startup') { '*S-1-5-19' } else { "$env:USERDOMAIN\$env:USERNAME" }

$dirs = @{
    Root       = $InstallDir
    Downloads  = Join-Path $InstallDir 'downloads'
    BizHawk    = Join-Path $InstallDir 'BizHawk'
    Roms       = Join-Path $InstallDir 'roms'
    ServerKeys = Join-Path $InstallDir 'keys\server'
    Authorized = Join-Path $InstallDir 'keys\authorized'
    Logs       = Join-Path $InstallDir 'logs'
}
foreach ($dir in $dirs.Values) { New-Item -ItemType Directory -Force -Path $dir | Out-Null }

# ---------------------------------------------------------------- Python 3.11
Write-Step 'Python 3.11'
$python = Find-Python311
if (-not $python) {
    if (-not $PythonSha256) {
        throw 'Python 3.11 is not installed: install it, or pass -PythonSha256 (from python.org) to let this script do it'
    }
    $installer = Join-Path $dirs.Downloads 'python-3.11-amd64.exe'
    Get-VerifiedFile -Source $PythonInstaller -Destination $installer -Sha256 $PythonSha256
    $proc = Start-Process -FilePath $installer -Wait -PassThru -ArgumentList @(
        '/quiet', 'InstallAllUsers=1', 'PrependPath=0', 'Include_launcher=1', 'Include_test=0')
    if ($proc.ExitCode -ne 0) { throw "Python installer failed with exit code $($proc.ExitCode)" }
    $python = Find-Python311
    if (-not $python) { throw 'Python 3.11 still not found after installing it' }
}
Write-Host "    $python"
if ($RunAt -eq 'Startup' -and $python.StartsWith($env:USERPROFILE, [StringComparison]::OrdinalIgnoreCase)) {
    # The venv runs the base interpreter, which LOCAL SERVICE cannot read inside a user profile.
    throw "Python 3.11 is installed for $env:USERNAME only ($python): install it for all users, or use -RunAt Logon"
}

# ---------------------------------------------------------------- sf2rl[worker]
Write-Step 'sf2rl[worker] in a virtual environment'
$venv = Join-Path $InstallDir 'venv'
if (-not (Test-Path -LiteralPath (Join-Path $venv 'Scripts\python.exe'))) {
    & $python -m venv $venv
    if ($LASTEXITCODE -ne 0) { throw 'could not create the virtual environment' }
}
$venvPython = Join-Path $venv 'Scripts\python.exe'
if ($PackageSource -match '^https?://') {
    $requirement = "sf2rl[worker] @ $PackageSource"
} elseif (Test-Path -LiteralPath $PackageSource) {
    $requirement = "$((Resolve-Path -LiteralPath $PackageSource).Path)[worker]"
} else {
    throw "PackageSource is neither an http(s) URL nor an existing path: $PackageSource"
}
$pipArgs = @('-m', 'pip', 'install', '--upgrade', $requirement, 'pillow')  # pillow: BizHawk screenshots
if ($Constraints) { $pipArgs += @('-c', $Constraints) }
& $venvPython @pipArgs
if ($LASTEXITCODE -ne 0) { throw 'pip install failed' }
$worker = Join-Path $venv 'Scripts\emulator-worker.exe'
& $venvPython -c 'import sys, zmq; sys.exit(0 if zmq.has(''curve'') else 1)'
if ($LASTEXITCODE -ne 0) { throw 'this pyzmq has no CurveZMQ support; reinstall pyzmq from its wheel' }

# ---------------------------------------------------------------- BizHawk
Write-Step "BizHawk $BizHawkVersion"
$zipName = "BizHawk-$BizHawkVersion-win-x64.zip"
$zip = Join-Path $dirs.Downloads $zipName
$url = "https://github.com/TASEmulators/BizHawk/releases/download/$BizHawkVersion/$zipName"
Get-VerifiedFile -Source $url -Destination $zip -Sha256 $BizHawkSha256
Expand-Archive -LiteralPath $zip -DestinationPath $dirs.BizHawk -Force
$emuhawk = Get-ChildItem -LiteralPath $dirs.BizHawk -Filter 'EmuHawk.exe' -Recurse | Select-Object -First 1
if (-not $emuhawk) { throw "$zipName holds no EmuHawk.exe" }
$bizhawkDir = $emuhawk.DirectoryName
Write-Host '    BizHawk needs the .NET Framework 4.8 and VC++ runtimes: run BizHawk-Prereqs once if EmuHawk.exe does not start.'

$rom = Join-Path $dirs.Roms (Split-Path -Leaf $RomPath)
Copy-Item -LiteralPath $RomPath -Destination $rom -Force

# ---------------------------------------------------------------- CurveZMQ keys
Write-Step 'CurveZMQ keys'
$secretKey = Join-Path $dirs.ServerKeys 'worker.key_secret'
$publicKey = Join-Path $dirs.ServerKeys 'worker.key'
if ($HostKeyDir) {
    foreach ($name in 'worker.key', 'worker.key_secret') {
        Copy-Item -LiteralPath (Join-Path $HostKeyDir $name) -Destination $dirs.ServerKeys -Force
    }
} elseif (-not (Test-Path -LiteralPath $secretKey)) {
    & $worker keygen $dirs.ServerKeys --name worker
    if ($LASTEXITCODE -ne 0) { throw 'emulator-worker keygen failed' }
}
foreach ($key in $AuthorizedKey) { Copy-Item -LiteralPath $key -Destination $dirs.Authorized -Force }
if (-not (Get-ChildItem -LiteralPath $dirs.Authorized -Filter '*.key')) {
    Write-Warning "no client key in $($dirs.Authorized) yet: no one can connect until the cluster's .key is copied there"
}
# The secret key: readable by the worker's account and administrators only.
& icacls.exe $secretKey /inheritance:r /grant:r "SYSTEM:F" "BUILTIN\Administrators:F" "${account}:R" /Q | Out-Null
if ($LASTEXITCODE -ne 0) { throw "could not restrict access to $secretKey" }

# ---------------------------------------------------------------- the worker command
Write-Step 'Worker command'
# JSON with forward slashes (Windows accepts them) so that no backslash needs escaping twice.
$options = [ordered]@{ rom = $rom.Replace('\', '/'); bizhawk_dir = $bizhawkDir.Replace('\', '/'); mode = 'windows' }
$json = ($options | ConvertTo-Json -Compress).Replace('"', '\"')
$runner = Join-Path $InstallDir 'run-worker.cmd'
@"
@echo off
rem Generated by install-worker.ps1; the scheduled task "$TaskName" runs this file.
rem Binds all interfaces: CurveZMQ admits only the keys in keys\authorized, the firewall only the cluster.
"$worker" serve --backend bizhawk --slots $Slots --bind tcp://0.0.0.0:$Port ^
  --curve-secret-key "$secretKey" --authorized-keys "$($dirs.Authorized)" ^
  --backend-options "$json" >> "$($dirs.Logs)\worker.log" 2>&1
"@ | Set-Content -LiteralPath $runner -Encoding ASCII

# The worker's account reads the install, and writes BizHawk's folder (config.ini) and the logs.
Grant-Access -Path $InstallDir -Account $account -Rights 'RX'
Grant-Access -Path $bizhawkDir -Account $account -Rights 'M'
Grant-Access -Path $dirs.Logs -Account $account -Rights 'M'

# ---------------------------------------------------------------- scheduled task
Write-Step "Scheduled task $TaskName ($RunAt)"
$action = New-ScheduledTaskAction -Execute 'cmd.exe' -Argument "/c `"$runner`"" -WorkingDirectory $InstallDir
if ($RunAt -eq 'Startup') {
    $trigger = New-ScheduledTaskTrigger -AtStartup
    # LOCAL SERVICE: no password to manage, no administrator rights, no network credentials.
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\LOCAL SERVICE' -LogonType ServiceAccount
} else {
    $trigger = New-ScheduledTaskTrigger -AtLogOn -User "$env:USERDOMAIN\$env:USERNAME"
    $principal = New-ScheduledTaskPrincipal -UserId "$env:USERDOMAIN\$env:USERNAME" -LogonType Interactive
}
# No time limit, restart every minute after an exit, run even on battery.
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 9999 `
    -RestartInterval (New-TimeSpan -Minutes 1) -StartWhenAvailable -AllowStartIfOnBatteries `
    -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false -ErrorAction SilentlyContinue
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal `
    -Settings $settings -Description 'sf2rl emulator worker host (emulator-worker serve)' | Out-Null
Start-ScheduledTask -TaskName $TaskName

# ---------------------------------------------------------------- firewall
Write-Step "Firewall: TCP $Port from $($ClusterAddresses -join ', ') only"
Get-NetFirewallRule -Group 'sf2rl' -ErrorAction SilentlyContinue | Remove-NetFirewallRule
# Windows blocks unsolicited inbound traffic by default, so this allow rule is the only way in.
New-NetFirewallRule -DisplayName "sf2rl worker (ZeroMQ $Port)" -Group 'sf2rl' -Direction Inbound `
    -Action Allow -Protocol TCP -LocalPort $Port -RemoteAddress $ClusterAddresses -Profile Any | Out-Null

# ---------------------------------------------------------------- check
Write-Step 'Check'
Start-Sleep -Seconds 5
$listening = Get-NetTCPConnection -State Listen -LocalPort $Port -ErrorAction SilentlyContinue
if ($listening) {
    Write-Host "    emulator-worker is listening on port $Port"
} else {
    Write-Warning "nothing listens on port $Port yet; see $($dirs.Logs)\worker.log"
}
Write-Host ''
Write-Host 'Give the cluster this host public key (pool.server_key in a sweep):'
Write-Host "    $publicKey"
Write-Host 'Then, from a cluster node:'
Write-Host "    emulator-worker ping tcp://<this-host>:$Port --server-key worker.key --client-key cluster.key_secret"
