"""Round trips between two processes, measured with both on one CPU.

Why: on these 2-vCPU virtual machines a pipe round trip between processes
on different CPUs costs 70-100 us (each wake-up is a cross-CPU interrupt
through the hypervisor), on one CPU 12-23 us.  The scheduler's placement
then decides a ratio more than the code does: a baseline that happened to
share a CPU against a subject that did not read as a 6x "regression".  So
the round-trip benchmarks move the calling thread and every descendant
process (the workers, the echo peer, the sandbox chain) onto one CPU for
the measurement and restore the previous affinity after it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["one_cpu"]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextlib.contextmanager
def one_cpu() -> Iterator[int | None]:
    """Pin this thread and all descendant processes to one CPU; yields it (None: no-op)."""
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    moved: list[tuple[int, set[int]]] = []
    for pid in [0, *_descendants(os.getpid())]:
        with contextlib.suppress(OSError):
            moved.append((pid, os.sched_getaffinity(pid)))
            os.sched_setaffinity(pid, {cpu})
    try:
        yield cpu
    finally:
        for pid, cpus in moved:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, cpus)
