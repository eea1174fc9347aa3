"""Process statistics read from /proc (Linux): descendants, CPU time and memory of a process."""

from __future__ import annotations

import os


def child_pids(root: int) -> list[int]:
    """Return ``root`` and all its descendants, found by scanning /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name in brackets may contain spaces, so fields are counted after its closing bracket.
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))

    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(parents.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float | None:
    """Return the user plus system CPU time of ``pid`` in seconds, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float] | None:
    """Return (VmRSS, VmHWM) of ``pid`` in MiB, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return None
    if "VmRSS" not in fields or "VmHWM" not in fields:
        return None
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def machine_cpu_seconds() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of the whole machine since boot, over all cores, from /proc/stat.

    Idle and I/O-wait time count as not busy.
    """
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    # The first eight fields run from user to steal. Guest time is already counted in user.
    total_ticks = sum(fields[:8])
    busy_ticks = total_ticks - fields[3] - fields[4]
    return busy_ticks / ticks_per_second, total_ticks / ticks_per_second
