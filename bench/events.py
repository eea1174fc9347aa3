"""Synthetic Elastic Defend process-start events for benchmarks.

The documents have the shape Elasticsearch stores as ``_source`` for the
``endpoint.events.process`` data stream: nested objects, ECS arrays for
``event.category``, ``event.type`` and ``process.args``, and the Defend
``process.Ext`` fields. Every value (hosts, users, SIDs, hashes, command
lines) is invented. Most events are ordinary Windows process starts. A chosen
share are runs of network discovery tools (``net``, ``net1``, ``netstat``,
``nbtstat`` and the look-alike ``netsh``), and some of those must not alert.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DISCOVERY_ORIGINAL_FILE_NAMES", "generate_process_events"]

# ``process.pe.original_file_name`` of every discovery program, and of no
# ordinary program, so a caller can tell the two groups apart.
DISCOVERY_ORIGINAL_FILE_NAMES = frozenset({"net.exe", "net1.exe", "netstat.exe", "nbtstat.exe", "netsh.exe"})

_START_TIME = datetime(2024, 5, 13, 8, 0, tzinfo=UTC)
_FILE_TIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)  # Windows file time counts 100 ns units from here
_SYSTEM32 = "C:\\Windows\\System32"
_POWERSHELL = f"{_SYSTEM32}\\WindowsPowerShell\\v1.0\\powershell.exe"
_JAVA = "C:\\Program Files\\Eclipse Adoptium\\jdk-17.0.10.7-hotspot\\bin\\java.exe"
_PYTHON = "C:\\Program Files\\Python311\\python.exe"
_GIT = "C:\\Program Files\\Git\\cmd\\git.exe"
_TEAMS = "C:\\Program Files\\WindowsApps\\MSTeams_24091.214.2846.1452_x64__8wekyb3d8bbwe\\ms-teams.exe"
_CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
_EDGE = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
_OUTLOOK = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
_CODE = "C:\\Users\\Public\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe"
_DOMAIN_SID = "S-1-5-21-1844237615-1283645902-2987351044"
_WELL_KNOWN_USERS = {
    "system": ("S-1-5-18", "SYSTEM", "NT AUTHORITY"),
    "local_service": ("S-1-5-19", "LOCAL SERVICE", "NT AUTHORITY"),
    "network_service": ("S-1-5-20", "NETWORK SERVICE", "NT AUTHORITY"),
}
_POWERSHELL_SCRIPT_LINES = (
    "$ErrorActionPreference = 'Stop'",
    "$log = Join-Path $env:ProgramData 'ContosoAgent\\logs\\inventory.log'",
    "Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object Caption, Version, LastBootUpTime",
    "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' | Select DisplayName",
    "Get-Service -Name 'wuauserv','bits' | ForEach-Object { $_.Status }",
    "Invoke-RestMethod -Uri 'https://inventory.example.com/api/v2/report' -Method Post -Body $body",
    "Get-ChildItem -Path $env:TEMP -Filter '*.tmp' | Where-Object LastWriteTime -lt (Get-Date).AddDays(-7)",
    "$body = @{ host = $env:COMPUTERNAME; ts = (Get-Date -Format o) } | ConvertTo-Json",
    "Add-Content -Path $log -Value ('{0} inventory finished' -f (Get-Date -Format s))",
)


@dataclass(frozen=True, slots=True)
class _Host:
    name: str
    id: str
    ip: str
    os_full: str
    os_version: str
    agent_id: str
    agent_version: str


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    name: str
    domain: str


@dataclass(frozen=True, slots=True)
class _Program:
    """One executable: its file and the arguments a run of it gets (``args`` builds them)."""

    executable: str
    original_file_name: str
    signer: str
    args: Callable[[random.Random, _User], list[str]]
    user_kind: str  # "user", "system", "local_service" or "network_service"
    parents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Run:
    """One process start, before it becomes a document."""

    program: _Program
    args: list[str]
    user: _User
    parent: _Program
    name: str | None = None  # overrides the file name of the executable (a renamed copy)
    parent_args: list[str] | None = None  # overrides the arguments built by ``parent.args``


def generate_process_events(count: int, *, seed: int, discovery_share: float = 0.03) -> list[dict[str, Any]]:
    """Generate ``count`` decoded Elastic Defend process-start documents.

    ``round(count * discovery_share)`` of them, at random positions, run a
    network discovery program, which has its ``process.pe.original_file_name``
    in :data:`DISCOVERY_ORIGINAL_FILE_NAMES`. About half of those are
    look-alikes that the "Windows System Network Connections Discovery" rule
    must not alert on. The same ``seed`` always gives the same list. A
    document is about 2 KB as compact JSON on average.

    Raises:
        ValueError: ``count`` is negative or ``discovery_share`` is outside 0 to 1.
    """
    if count < 0:
        raise ValueError(f"invalid event count {count}: use 0 or more")
    if not 0.0 <= discovery_share <= 1.0:
        raise ValueError(f"invalid discovery share {discovery_share}: use a fraction from 0 to 1")

    rng = random.Random(seed)
    hosts = [_make_host(rng, number) for number in range(24)]
    users = [_make_user(rng, number) for number in range(40)]
    hashes = {program.executable: _make_hashes(rng) for program in _PROGRAMS.values()}
    discovery_positions = set(rng.sample(range(count), round(count * discovery_share)))

    events = []
    clock = _START_TIME
    for index in range(count):
        clock += timedelta(microseconds=rng.randrange(200, 40_000))
        host = rng.choice(hosts)
        user = rng.choice(users)
        run = _discovery_run(rng, user) if index in discovery_positions else _ordinary_run(rng, user)
        events.append(_document(rng, run, host, clock, index, hashes))
    return events


# Programs ---------------------------------------------------------------------------------------------------


def _system32(name: str) -> str:
    return f"{_SYSTEM32}\\{name}"


def _svchost_args(rng: random.Random, user: _User) -> list[str]:
    group, service = rng.choice(
        [
            ("netsvcs", "Schedule"),
            ("netsvcs", "Winmgmt"),
            ("LocalServiceNetworkRestricted", "EventLog"),
            ("DcomLaunch", "PlugPlay"),
            ("UnistackSvcGroup", "CDPUserSvc"),
            ("NetworkService", "Dnscache"),
            ("wsappx", "AppXSvc"),
        ]
    )
    return [_system32("svchost.exe"), "-k", group, "-p", "-s", service]


def _browser_args(executable: str) -> Callable[[random.Random, _User], list[str]]:
    def build(rng: random.Random, user: _User) -> list[str]:
        kind = rng.choice(["renderer", "gpu-process", "utility"])
        return [
            executable,
            f"--type={kind}",
            f"--field-trial-handle={rng.randrange(1500, 2600)},i,{rng.getrandbits(40)},262144",
            "--service-sandbox-type=none" if kind == "utility" else f"--renderer-client-id={rng.randrange(5, 400)}",
            "/prefetch:" + str(rng.randrange(1, 9)),
        ]

    return build


def _powershell_args(rng: random.Random, user: _User) -> list[str]:
    script = "; ".join(rng.sample(_POWERSHELL_SCRIPT_LINES, rng.randrange(1, 4)))
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    executable = _POWERSHELL
    if rng.random() < 0.5:
        return [executable, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encoded]
    return [executable, "-NoLogo", "-Command", f"& {{ {script} }}"]


def _cmd_args(rng: random.Random, user: _User) -> list[str]:
    command = rng.choice(
        [
            "echo %DATE% %TIME% >> C:\\ProgramData\\ContosoAgent\\heartbeat.txt",
            "del /q /f C:\\Windows\\Temp\\ContosoSetup*.log",
            "ipconfig /flushdns",
            "type C:\\ProgramData\\ContosoAgent\\config.ini",
            # Mentions net commands, but cmd.exe is the process: the rule must not match it.
            "net use > %TEMP%\\drives.txt 2>&1",
            f"\"C:\\Users\\{user.name}\\AppData\\Local\\Temp\\build-{rng.randrange(1000, 9999)}.cmd\"",
        ]
    )
    return [_system32("cmd.exe"), "/d", "/c", command]


def _conhost_args(rng: random.Random, user: _User) -> list[str]:
    return ["\\??\\C:\\Windows\\system32\\conhost.exe", "0xffffffff", "-ForceV1"]


def _rundll32_args(rng: random.Random, user: _User) -> list[str]:
    guid = "{" + "-".join(f"{rng.getrandbits(bits):0{bits // 4}X}" for bits in (32, 16, 16, 16, 48)) + "}"
    entry = rng.choice(
        [
            ["C:\\Windows\\System32\\shell32.dll,SHCreateLocalServerRunDll", guid, "-Embedding"],
            ["C:\\Windows\\system32\\inetcpl.cpl,ClearMyTracksByProcess", "Flags:65800", "WinX:0"],
            ["C:\\Windows\\System32\\printui.dll,PrintUIEntryDPIAware", "/in", "/n\\\\print01\\Floor2-Color"],
        ]
    )
    return [_system32("rundll32.exe"), *entry]


def _fixed_args(*args: str) -> Callable[[random.Random, _User], list[str]]:
    def build(rng: random.Random, user: _User) -> list[str]:
        return list(args)

    return build


def _java_args(rng: random.Random, user: _User) -> list[str]:
    executable = _JAVA
    if rng.random() < 0.2:
        # A long class path, sometimes over the 1024-character keyword limit (such an argument is not indexed).
        jars = [f"C:\\opt\\reporting\\lib\\module-{number:03d}-2.14.1.jar" for number in range(rng.randrange(10, 30))]
        return [executable, "-Xmx2g", "-cp", ";".join(jars), "com.example.reporting.Main", "--nightly"]
    return [executable, "-Xmx512m", "-jar", "C:\\opt\\inventory\\inventory-agent-3.2.0.jar", "--config", "agent.yml"]


def _python_args(rng: random.Random, user: _User) -> list[str]:
    executable = _PYTHON
    return rng.choice(
        [
            [executable, "-m", "pip", "install", "-r", "requirements.txt"],
            [executable, "-m", "pytest", "-q", "tests"],
            [executable, f"C:\\Users\\{user.name}\\src\\reports\\export_monthly.py", "--month", "2024-04"],
        ]
    )


def _git_args(rng: random.Random, user: _User) -> list[str]:
    executable = _GIT
    return rng.choice(
        [
            [executable, "fetch", "--prune", "origin"],
            [executable, "status", "--porcelain=v2", "--branch"],
            [executable, "log", "--oneline", "-n", "20"],
            [executable, "-c", "core.quotepath=false", "rev-parse", "--show-toplevel"],
        ]
    )


# Fields: executable, pe.original_file_name, code signer, argument builder, user kind, possible parents.
_PROGRAMS: dict[str, _Program] = {
    "services": _Program(
        _system32("services.exe"), "services.exe", "Microsoft Windows Publisher",
        _fixed_args(_system32("services.exe")), "system", ("wininit",),
    ),
    "wininit": _Program(
        _system32("wininit.exe"), "wininit.exe", "Microsoft Windows Publisher",
        _fixed_args("wininit.exe"), "system", ("services",),
    ),
    "explorer": _Program(
        "C:\\Windows\\explorer.exe", "EXPLORER.EXE", "Microsoft Windows",
        _fixed_args("C:\\Windows\\Explorer.EXE"), "user", ("userinit",),
    ),
    "userinit": _Program(
        _system32("userinit.exe"), "USERINIT.EXE", "Microsoft Windows",
        _fixed_args(_system32("userinit.exe")), "user", ("wininit",),
    ),
    "svchost": _Program(
        _system32("svchost.exe"), "svchost.exe", "Microsoft Windows Publisher",
        _svchost_args, "system", ("services",),
    ),
    "chrome": _Program(_CHROME, "chrome.exe", "Google LLC", _browser_args(_CHROME), "user", ("chrome", "explorer")),
    "msedge": _Program(
        _EDGE, "msedge.exe", "Microsoft Corporation", _browser_args(_EDGE), "user", ("msedge", "explorer"),
    ),
    "powershell": _Program(
        _POWERSHELL, "PowerShell.EXE", "Microsoft Windows",
        _powershell_args, "user", ("explorer", "svchost", "cmd", "code"),
    ),
    "cmd": _Program(
        _system32("cmd.exe"), "Cmd.Exe", "Microsoft Windows",
        _cmd_args, "user", ("explorer", "svchost", "powershell", "java"),
    ),
    "conhost": _Program(
        _system32("conhost.exe"), "CONHOST.EXE", "Microsoft Windows",
        _conhost_args, "user", ("cmd", "powershell", "python"),
    ),
    "rundll32": _Program(
        _system32("rundll32.exe"), "RUNDLL32.EXE", "Microsoft Windows",
        _rundll32_args, "user", ("svchost", "explorer"),
    ),
    "wmiprvse": _Program(
        _system32("wbem\\WmiPrvSE.exe"), "Wmiprvse.exe", "Microsoft Windows",
        _fixed_args(_system32("wbem\\wmiprvse.exe"), "-secured", "-Embedding"), "network_service", ("svchost",),
    ),
    "taskhostw": _Program(
        _system32("taskhostw.exe"), "taskhostw.exe", "Microsoft Windows",
        _fixed_args("taskhostw.exe", "KEYROAMING"), "user", ("svchost",),
    ),
    "teams": _Program(
        _TEAMS, "ms-teams.exe", "Microsoft Corporation",
        _fixed_args(_TEAMS, "msteams:system-initiated"), "user", ("explorer", "svchost"),
    ),
    "outlook": _Program(
        _OUTLOOK, "outlook.exe", "Microsoft Corporation", _fixed_args(_OUTLOOK, "/recycle"), "user", ("explorer",),
    ),
    "java": _Program(
        _JAVA, "java.exe", "Eclipse.org Foundation, Inc.", _java_args, "local_service", ("services", "cmd"),
    ),
    "python": _Program(
        _PYTHON, "python.exe", "Python Software Foundation",
        _python_args, "user", ("cmd", "powershell", "code"),
    ),
    "git": _Program(_GIT, "git.exe", "Johannes Schindelin", _git_args, "user", ("code", "cmd", "powershell")),
    "code": _Program(
        _CODE, "electron.exe", "Microsoft Corporation",
        _fixed_args(_CODE, "--type=utility", "--utility-sub-type=node.mojom.NodeService"), "user", ("explorer", "code"),
    ),
    "net": _Program(_system32("net.exe"), "net.exe", "Microsoft Windows", _fixed_args("net"), "user", ("cmd",)),
    "net1": _Program(_system32("net1.exe"), "net1.exe", "Microsoft Windows", _fixed_args("net1"), "user", ("net",)),
    "netstat": _Program(
        _system32("NETSTAT.EXE"), "netstat.exe", "Microsoft Windows", _fixed_args("netstat"), "user", ("cmd",),
    ),
    "nbtstat": _Program(
        _system32("nbtstat.exe"), "nbtstat.exe", "Microsoft Windows", _fixed_args("nbtstat"), "user", ("cmd",),
    ),
    "netsh": _Program(_system32("netsh.exe"), "netsh.exe", "Microsoft Windows", _fixed_args("netsh"), "user", ("cmd",)),
}

# Relative frequency of each ordinary program among process starts.
_ORDINARY_WEIGHTS = {
    "svchost": 14, "chrome": 16, "msedge": 10, "powershell": 6, "cmd": 8, "conhost": 10, "rundll32": 5,
    "wmiprvse": 4, "taskhostw": 4, "teams": 4, "outlook": 2, "java": 4, "python": 4, "git": 6, "code": 3,
}
_ORDINARY_NAMES = tuple(_ORDINARY_WEIGHTS)
_ORDINARY_CUMULATIVE = tuple(itertools.accumulate(_ORDINARY_WEIGHTS.values()))


def _ordinary_run(rng: random.Random, user: _User) -> _Run:
    key = rng.choices(_ORDINARY_NAMES, cum_weights=_ORDINARY_CUMULATIVE)[0]
    program = _PROGRAMS[key]
    run_user = _run_user(program.user_kind, user)
    parent = _PROGRAMS[rng.choice(program.parents)]
    return _Run(program, program.args(rng, run_user), run_user, parent)


def _run_user(kind: str, user: _User) -> _User:
    if kind == "user":
        return user
    return _User(*_WELL_KNOWN_USERS[kind])


# Discovery runs: (program, arguments after the program name, parent, user kind, renamed file name).
# Each line is commented with whether the shipped rule alerts on it.
_DISCOVERY_CASES: tuple[tuple[str, tuple[str, ...], str, str, str | None], ...] = (
    ("netstat", ("-ano",), "cmd", "user", None),  # alert
    ("netstat", ("-nao",), "powershell", "user", None),  # alert
    ("netstat", ("-rn",), "cmd", "system", None),  # no alert: SYSTEM
    ("net", ("use",), "cmd", "user", None),  # alert
    ("net", ("USE", "Z:", "/home"), "powershell", "user", None),  # alert: ':' folds case
    ("net", ("user", "/domain"), "cmd", "user", None),  # alert
    ("net", ("session",), "powershell", "user", None),  # alert
    ("net", ("config", "workstation"), "cmd", "user", None),  # alert
    ("net", ("view",), "cmd", "user", None),  # no alert: view is not listed
    ("net", ("time", "\\\\dc01"), "cmd", "user", None),  # no alert: time is not listed
    ("net", ("localgroup", "administrators"), "cmd", "user", None),  # no alert
    ("net", ("use", "\\\\fs01\\share", "/persistent:yes"), "cmd", "user", None),  # no alert: excluded arguments
    ("net", ("use", "Z:", "/delete"), "cmd", "user", None),  # no alert: /delete
    ("net", ("use",), "svchost", "system", None),  # no alert: SYSTEM
    ("net", ("user",), "powershell", "user", "nt.exe"),  # alert: renamed, original file name net.exe
    ("net1", ("user",), "net", "user", None),  # no alert: parent is net.exe
    ("net1", ("session",), "cmd", "user", None),  # alert: net1 started directly
    ("nbtstat", ("-s",), "cmd", "user", None),  # alert
    ("nbtstat", ("-S",), "powershell", "user", None),  # alert
    ("nbtstat", ("-a", "WKS-0150"), "cmd", "user", None),  # no alert: -a
    ("nbtstat", ("-n",), "cmd", "user", None),  # no alert
    ("netsh", ("interface", "show", "interface"), "cmd", "user", None),  # no alert: netsh
    ("netsh", ("advfirewall", "show", "currentprofile"), "powershell", "user", None),  # no alert
)


def _discovery_run(rng: random.Random, user: _User) -> _Run:
    key, arguments, parent_key, user_kind, renamed = rng.choice(_DISCOVERY_CASES)
    program = _PROGRAMS[key]
    first = renamed or rng.choice([key, f"{key}.exe", program.executable])
    parent_args = None
    if parent_key == "net":
        # net.exe hands its own arguments to the net1.exe it starts.
        parent_args = ["net", *arguments]
    return _Run(program, [first, *arguments], _run_user(user_kind, user), _PROGRAMS[parent_key], renamed, parent_args)


# Documents --------------------------------------------------------------------------------------------------


def _document(
    rng: random.Random,
    run: _Run,
    host: _Host,
    clock: datetime,
    index: int,
    hashes: dict[str, dict[str, str]],
) -> dict[str, Any]:
    timestamp = clock.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    pid = rng.randrange(400, 40_000, 4)
    parent_pid = rng.randrange(400, 40_000, 4)
    parent_entity = _entity_id(host, parent_pid, clock - timedelta(seconds=rng.randrange(1, 80_000)))
    process_entity = _entity_id(host, pid, clock)
    executable = run.program.executable
    if run.name is not None:
        executable = f"C:\\Users\\{run.user.name}\\AppData\\Local\\Temp\\{run.name}"
    parent_args = run.parent_args if run.parent_args is not None else run.parent.args(rng, run.user)

    return {
        "@timestamp": timestamp,
        "agent": {"id": host.agent_id, "type": "endpoint", "version": host.agent_version},
        "data_stream": {"dataset": "endpoint.events.process", "namespace": "default", "type": "logs"},
        "ecs": {"version": "8.10.0"},
        "event": {
            "action": "start",
            "category": ["process"],
            "dataset": "endpoint.events.process",
            "id": base64.b64encode(rng.randbytes(18)).decode("ascii"),
            "kind": "event",
            "module": "endpoint",
            "sequence": 100_000 + index,
            "type": ["start"],
        },
        "host": {
            "hostname": host.name,
            "id": host.id,
            "ip": [host.ip],
            "name": host.name,
            "os": {
                "full": host.os_full,
                "name": "Windows",
                "platform": "windows",
                "version": host.os_version,
            },
        },
        "process": {
            "Ext": {
                "ancestry": [parent_entity],
                "token": {"integrity_level_name": _integrity(run.user)},
            },
            "args": run.args,
            "args_count": len(run.args),
            "code_signature": _signature(run.program.signer),
            "command_line": _command_line(run.args),
            "entity_id": process_entity,
            "executable": executable,
            "hash": dict(hashes[run.program.executable]),
            "name": executable.rsplit("\\", 1)[-1],
            "parent": {
                "args": parent_args,
                "args_count": len(parent_args),
                "command_line": _command_line(parent_args),
                "entity_id": parent_entity,
                "executable": run.parent.executable,
                "name": run.parent.executable.rsplit("\\", 1)[-1],
                "pid": parent_pid,
            },
            "pe": {"original_file_name": run.program.original_file_name},
            "pid": pid,
        },
        "user": {"domain": run.user.domain, "id": run.user.id, "name": run.user.name},
    }


def _command_line(args: list[str]) -> str:
    """Join arguments the way Windows quotes them: an argument with a space is wrapped in double quotes."""
    return " ".join(f'"{arg}"' if " " in arg else arg for arg in args)


def _entity_id(host: _Host, pid: int, started: datetime) -> str:
    # Entity ids in Elastic's sample Defend documents decode to "<agent id>-<pid>-<seconds since 1601>.<fraction>".
    file_time = (started - _FILE_TIME_EPOCH) // timedelta(microseconds=1) * 10
    raw = f"{host.agent_id}-{pid}-{file_time // 10_000_000}.{file_time % 10_000_000}"
    return base64.b64encode(raw.encode("ascii")).decode("ascii")


def _signature(signer: str) -> dict[str, Any]:
    return {"exists": True, "status": "trusted", "subject_name": signer, "trusted": True}


def _integrity(user: _User) -> str:
    if user.id == "S-1-5-18":
        return "system"
    if user.domain == "NT AUTHORITY":
        return "high"
    return "medium"


def _make_host(rng: random.Random, number: int) -> _Host:
    build = rng.choice(["22631.3447", "22631.3527", "22621.3296"])
    return _Host(
        name=f"WKS-{number + 100:04d}",
        id=_uuid(rng),
        ip=f"10.20.{rng.randrange(1, 60)}.{rng.randrange(2, 250)}",
        os_full=f"Windows 11 Enterprise 23H2 (10.0.{build})",
        os_version=f"23H2 (10.0.{build})",
        agent_id=_uuid(rng),
        agent_version=rng.choice(["8.13.2", "8.13.4", "8.14.1"]),
    )


def _make_user(rng: random.Random, number: int) -> _User:
    first = rng.choice(["alex", "sam", "kim", "lee", "jo", "robin", "dana", "chris", "pat", "max"])
    return _User(f"{_DOMAIN_SID}-{1100 + number}", f"{first}.{number:02d}", "EXAMPLECORP")


def _make_hashes(rng: random.Random) -> dict[str, str]:
    return {"md5": f"{rng.getrandbits(128):032x}", "sha256": f"{rng.getrandbits(256):064x}"}


def _uuid(rng: random.Random) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
