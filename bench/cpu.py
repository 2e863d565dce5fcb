"""Where the CPU went during a benchmark phase: per process role, and the rest of the machine."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path


def proc_stats() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, utime + stime in clock ticks, comm) for every process still there."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), comm)
    return found


def busy_ticks() -> int:
    """Clock ticks all CPUs spent on anything but idle and iowait, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4]


class CpuMeter:
    """CPU seconds per role over a phase; a process belongs to its nearest ancestor that has a role,
    and "others" is whatever the machine was busy with besides all of those (the contention)."""

    def __init__(self, roots: Mapping[int, str]) -> None:
        self._roots = dict(roots)

    def _roles(self, stats: Mapping[int, tuple[int, int, str]]) -> dict[int, str]:
        roles: dict[int, str] = {}
        for pid in stats:
            walk, hops = pid, 0
            while walk not in self._roots and walk in stats and hops < 64:
                walk, hops = stats[walk][0], hops + 1
            if walk in self._roots:
                roles[pid] = self._roots[walk]
        return roles

    @contextlib.contextmanager
    def phase(self, into: dict[str, float]) -> Iterator[None]:
        """Adds the wall time and the CPU seconds of each role over the block to `into`."""
        busy_start, start = busy_ticks(), proc_stats()
        wall_start = time.perf_counter()
        yield
        busy_end, end = busy_ticks(), proc_stats()
        wall = time.perf_counter() - wall_start
        hz = os.sysconf("SC_CLK_TCK")
        used: Counter[str] = Counter()
        for pid, role in self._roles(end).items():
            before = start[pid][1] if pid in start else 0
            used[role] += end[pid][1] - before
        into["wall"] = into.get("wall", 0.0) + wall
        for role in sorted(set(self._roots.values())):
            into[role] = into.get(role, 0.0) + used[role] / hz
        others = max(0.0, (busy_end - busy_start - used.total()) / hz)
        into["others"] = into.get("others", 0.0) + others


def cpu_line(cpu: Mapping[str, float]) -> str:
    wall = cpu.get("wall", 0.0)
    if wall <= 0:
        return "cpu: (not measured)"
    parts = [
        f"{role} {seconds / wall:.2f}"
        for role, seconds in cpu.items()
        if role != "wall" and (role == "others" or seconds / wall >= 0.005)
    ]
    return f"cpu cores used over {wall:.1f} s: " + ", ".join(parts)


def cpu_per(cpu: Mapping[str, float], amount: float, unit: str) -> str:
    """CPU seconds of each role per `unit`, for the roles that used any."""
    parts = [
        f"{role} {seconds / amount:.2f}"
        for role, seconds in cpu.items()
        if role != "wall" and (role == "others" or seconds / amount >= 0.005)
    ]
    return ", ".join(parts) + f" CPU-s/{unit}"


def work_s(cpu: Mapping[str, float]) -> float:
    """CPU seconds the measured roles spent (not "others": the rest of the machine)."""
    return sum(seconds for role, seconds in cpu.items() if role not in ("wall", "others"))


def cpu_bound_ratio(direct_s: float, work_per_run_s: float, cores: int) -> float | None:
    """The best ratio to `direct_s` that `cores` allow for `work_per_run_s` CPU seconds per run: all of it
    spread perfectly over every core. None when nothing was measured."""
    return direct_s / (work_per_run_s / cores) if work_per_run_s > 0 else None


def find_pid(match: Callable[[int, str, str], bool]) -> int | None:
    """The first process whose (ppid, comm, cmdline) matches."""
    for pid, (ppid, _, comm) in proc_stats().items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if match(ppid, comm, cmdline):
            return pid
    return None
