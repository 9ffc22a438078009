"""Resource limits: the defaults, the host's maxima, and manifest clamping.

Why one place: a plugin's manifest may *ask* for resources (SPEC 2,
``resources``), but the host decides.  Every number that bounds a worker
lives here so the report, the launchers and the docs agree.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from collections.abc import Mapping
from typing import Any, Final

from .._seams import Limits

#: What a worker gets when its manifest asks for nothing.
DEFAULT_LIMITS: Final[Limits] = Limits()

#: The most a manifest can obtain; larger requests are clamped to these.
MAXIMUM_LIMITS: Final[Limits] = Limits(
    memory_mb=8192,
    cpu_seconds=3600,
    timeout_seconds=1800.0,
    max_processes=256,
    max_file_size_mb=2048,
    max_open_files=1024,
    max_written_mb=4096,
    max_written_files=1_000_000,
    max_progress_events=1_000_000,
    max_frame_bytes=64 * 1024 * 1024,
)

#: The least a manifest can ask for: below these Python itself cannot start.
MINIMUM_LIMITS: Final[Limits] = Limits(
    memory_mb=64,
    cpu_seconds=1,
    timeout_seconds=1.0,
    max_processes=4,
    max_file_size_mb=1,
    max_open_files=32,
    max_written_mb=1,
    max_written_files=100,
    max_progress_events=1000,
    max_frame_bytes=64 * 1024,
)

#: Manifest ``resources`` keys and the ``Limits`` field each one sets.
_RESOURCE_FIELDS: Final[dict[str, str]] = {
    "memory_mb": "memory_mb",
    "cpu_seconds": "cpu_seconds",
    "timeout_seconds": "timeout_seconds",
}

#: Size of the private ``/tmp`` tmpfs, in MiB, at most.
TMPFS_MAX_MB: Final[int] = 256


def clamp_resources(
    resources: Mapping[str, Any] | None,
    *,
    base: Limits = DEFAULT_LIMITS,
    maximum: Limits = MAXIMUM_LIMITS,
) -> Limits:
    """Limits for a plugin whose manifest asks for ``resources``.

    Requests above ``maximum`` are clamped (the host decides, SPEC 2);
    requests below the minimum a Python worker needs are raised to it.  A
    request that is not a positive number is a user mistake: ``ValueError``
    naming the field, never a silent default.
    """
    if resources is None:
        return base
    if not isinstance(resources, Mapping):
        raise ValueError(f"/resources: expected a mapping, got {type(resources).__name__}")
    changes: dict[str, Any] = {}
    for key, value in resources.items():
        field = _RESOURCE_FIELDS.get(key)
        if field is None:
            if isinstance(key, str) and key.startswith("x-"):
                continue
            known = ", ".join(sorted(_RESOURCE_FIELDS))
            raise ValueError(f"/resources/{key}: unknown resource (known: {known})")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"/resources/{key}: expected a positive number, got {value!r}")
        low = getattr(MINIMUM_LIMITS, field)
        high = getattr(maximum, field)
        clamped = min(max(value, low), high)
        changes[field] = float(clamped) if field == "timeout_seconds" else int(clamped)
    return dataclasses.replace(base, **changes)


def tmpfs_bytes(limits: Limits) -> int:
    """Size of the private ``/tmp``: the write budget, capped at ``TMPFS_MAX_MB``."""
    return min(limits.max_written_mb, TMPFS_MAX_MB) * 1024 * 1024


def processes_of_uid(uid: int) -> int:
    """How many processes ``uid`` owns right now.

    Why: ``RLIMIT_NPROC`` counts *every* process of the real uid on the
    machine, not just the worker's, so the limit handed to a worker is this
    count plus its own allowance; otherwise a busy desktop user could not
    fork at all and a quiet one would get the whole budget.
    """
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                count += 1
        except OSError:
            continue
    return count


#: ``prlimit(1)`` long option name -> the ``resource`` constant (for ``prlimit(2)``).
RLIMIT_OF: Final[dict[str, int]] = {
    "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE, "as": resource.RLIMIT_AS,
}


def apply_rlimits(pid: int, values: Mapping[str, tuple[int, int]]) -> None:
    """Set ``values`` (as :func:`rlimits` returns them) on the running process ``pid``."""
    for name, (soft, hard) in values.items():
        resource.prlimit(pid, RLIMIT_OF[name], (soft, hard))


def rlimits(limits: Limits, *, nproc_base: int,
            use_address_space: bool) -> dict[str, tuple[int, int]]:
    """(soft, hard) per ``prlimit(1)`` option (long names) for a worker with ``limits``.

    CPU gets a hard limit one second above the soft one, so the worker first
    receives ``SIGXCPU`` (reported as the CPU limit) rather than a bare SIGKILL.

    ``use_address_space`` selects ``RLIMIT_AS`` as the memory limit (no cgroup
    to do it): it gives a clean ``MemoryError``, and ``MALLOC_ARENA_MAX=2``
    in the worker's environment keeps glibc's thread arenas from eating it.
    """
    mib = 1024 * 1024
    values = {
        "cpu": limits.cpu_seconds + 1,
        "fsize": limits.max_file_size_mb * mib,
        "nofile": limits.max_open_files,
        "nproc": nproc_base + limits.max_processes,
        "core": 0,
    }
    if use_address_space:
        values["as"] = limits.memory_mb * mib
    out = {key: (value, value) for key, value in values.items()}
    out["cpu"] = (limits.cpu_seconds, limits.cpu_seconds + 1)
    return out
