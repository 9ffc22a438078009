"""Report lines from what the probe worker measured, shared by ``strict`` and ``basic``.

Why one module: both levels run the same probe (``_probe._PROBE_SCRIPT``)
and must judge its findings the same way, so a protection is never "on"
in one report on weaker evidence than in the other.  Every verdict here
is built from something the probe *tried* inside the sandbox (a write, a
read, a fork, a descriptor, a read-back), and its detail names the value
seen, so a user can tell a measurement from a promise.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from typing import Any

from .._seams import Limits, Protection

__all__ = ["ReportLines", "capabilities_dropped", "host_environ", "limit_lines",
           "parent_death", "process_cleanup"]

_MIB = 1024 * 1024
_CAP_SETS = ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")


class ReportLines:
    """Collects :class:`Protection` lines: ``add(name, ok, detail_if_on, detail_if_off)``."""

    def __init__(self) -> None:
        self.lines: list[Protection] = []

    def add(self, name: str, ok: object, on: str, off: str) -> None:
        self.lines.append(Protection(name, bool(ok), on if ok else off))


def _caps(found: Mapping[str, Any]) -> dict[str, int]:
    raw = found.get("caps")
    caps = raw if isinstance(raw, dict) else {}
    return {name: int(caps.get(name, -1)) for name in _CAP_SETS}


def capabilities_dropped(found: Mapping[str, Any]) -> Protection:
    """No capability in any set, read from ``/proc/self/status`` inside.

    The bounding set may stay full only with ``no_new_privs`` (a non-root
    host cannot empty it, and then no ``exec`` can gain from it).
    """
    caps = _caps(found)
    text = " ".join(f"{name}={value:x}" if value >= 0 else f"{name}=?"
                    for name, value in caps.items())
    held = [name for name in _CAP_SETS[:4] if caps[name] != 0]
    bounded = caps["CapBnd"] == 0 or bool(found.get("no_new_privs"))
    if not held and bounded:
        why = "" if caps["CapBnd"] == 0 else " (bounding set kept, neutralised by NoNewPrivs=1)"
        return Protection("capabilities-dropped", True, f"read back inside: {text}{why}")
    return Protection("capabilities-dropped", False,
                      f"the worker holds capabilities (read back inside: {text})")


def host_environ(found: Mapping[str, Any], own: tuple[int, int] | None) -> Protection:
    """Whether the worker could read the host's ``/proc/<pid>/environ`` (host secrets).

    ``own`` is (length, crc32) of the host's own environ block; the probe
    reads the host's pid and sends the same digest, or the error it got.
    In a PID namespace the host's pid names nothing (or another process),
    which the digest tells apart.
    """
    seen = found.get("host_environ")
    if isinstance(seen, list) and own is not None and tuple(seen) == own:
        return Protection("host-environ-hidden", False,
                          "the worker read the host's /proc/<pid>/environ (host secrets leak)")
    if isinstance(seen, str):
        return Protection("host-environ-hidden", True,
                          f"reading the host's /proc/<pid>/environ failed inside: {seen}")
    if isinstance(seen, list):
        return Protection("host-environ-hidden", True,
                          "the host's pid is another process inside (own PID namespace)")
    return Protection("host-environ-hidden", False, "the probe gave no answer")


def parent_death(found: Mapping[str, Any]) -> Protection:
    """The worker's parent-death signal, read back inside with ``PR_GET_PDEATHSIG``."""
    value = found.get("pdeathsig")
    if value == signal.SIGKILL:
        return Protection("die-with-parent", True,
                          "parent-death signal read back inside the worker: SIGKILL")
    return Protection("die-with-parent", False,
                      f"parent-death signal read back inside the worker: {value!r} (it "
                      "outlives a killed launcher)")


def process_cleanup(found: Mapping[str, Any], how: str) -> Protection:
    """Whether the probe's ``setsid`` double-forked daemon died with the worker."""
    outcome = found.get("daemon")
    if outcome == "gone":
        return Protection("process-cleanup", True,
                          f"a setsid double-forked daemon of the probe was gone when the "
                          f"worker ended ({how})")
    return Protection("process-cleanup", False,
                      f"a setsid double-forked daemon of the probe: {outcome or 'not started'}")


def _rlimit(found: Mapping[str, Any], name: str) -> tuple[int, int] | None:
    raw = found.get("rlimits")
    value = raw.get(name) if isinstance(raw, dict) else None
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


def _show(value: int, unit: Callable[[int], str]) -> str:
    return "unlimited" if value < 0 else unit(value)


def limit_lines(found: Mapping[str, Any], limits: Limits) -> list[Protection]:
    """CPU, file-size and open-files lines: each as measured against the probe's ``limits``."""
    out = ReportLines()
    cpu = _rlimit(found, "cpu")
    out.add("cpu-limit", cpu is not None and cpu[0] == limits.cpu_seconds,
            f"probe limit {limits.cpu_seconds} s: RLIMIT_CPU read back inside: "
            f"{cpu and cpu[0]} s (SIGXCPU), hard {cpu and cpu[1]} s; not spun at start-up",
            f"probe limit {limits.cpu_seconds} s: RLIMIT_CPU read back inside: "
            f"{'none' if cpu is None else _show(cpu[0], lambda v: f'{v} s')}")
    size = limits.max_file_size_mb * _MIB
    fsize, stop = _rlimit(found, "fsize"), found.get("fsize_stop")
    out.add("file-size-limit", stop == "EFBIG" and fsize is not None and fsize[0] == size,
            f"probe limit {limits.max_file_size_mb} MiB: a write past it failed with EFBIG "
            f"(RLIMIT_FSIZE read back: {fsize and fsize[0]} bytes)",
            f"probe limit {limits.max_file_size_mb} MiB: a write past it: {stop or 'not tried'}"
            f" (RLIMIT_FSIZE read back: "
            f"{'none' if fsize is None else _show(fsize[0], str)})")
    nofile, opened = _rlimit(found, "nofile"), found.get("nofile_stop")
    stopped_at = opened[1] if isinstance(opened, list) and len(opened) == 3 else None
    errno = opened[2] if isinstance(opened, list) and len(opened) == 3 else None
    out.add("open-files-limit", errno == "EMFILE" and stopped_at == limits.max_open_files,
            f"probe limit {limits.max_open_files}: opening files stopped with EMFILE at "
            f"descriptor {stopped_at}",
            f"probe limit {limits.max_open_files}: opening files "
            + (f"stopped with {errno} at descriptor {stopped_at}" if errno
               else "was never refused")
            + f" (RLIMIT_NOFILE read back: {nofile and nofile[0]})")
    return out.lines
