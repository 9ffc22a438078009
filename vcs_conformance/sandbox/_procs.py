"""Process bookkeeping shared by the launchers: /proc reading and spawning.

Why a spawner thread: bubblewrap's ``--die-with-parent`` and the basic
launcher's parent-death signal follow the parent *thread*, not the process
(``PR_SET_PDEATHSIG``).  A worker started from a short-lived thread (a
``ThreadPoolExecutor`` the host uses for a timeout, say) would be killed when
that thread ends.  Every worker is therefore forked from one daemon thread
that lives as long as the interpreter.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_JOBS: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_THREAD: threading.Thread | None = None
_LOCK = threading.Lock()


def _spawner() -> None:
    while True:
        job, future = _JOBS.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(job())
        except BaseException as exc:
            future.set_exception(exc)


def on_spawner_thread(job: Callable[[], T]) -> T:
    """Run ``job`` (a ``Popen``) on the long-lived spawner thread and return its result."""
    global _THREAD  # noqa: PLW0603 - one spawner per interpreter, by design
    with _LOCK:
        if _THREAD is None or not _THREAD.is_alive():
            _THREAD = threading.Thread(target=_spawner, name="vcs-sandbox-spawner", daemon=True)
            _THREAD.start()
    future: Future[T] = Future()
    _JOBS.put((job, future))
    return future.result()


def status_fields(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as a mapping (readable for any process)."""
    fields: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
    except OSError:
        pass
    return fields


def nspids(pid: int) -> list[int]:
    """The pid of ``pid`` in each nested PID namespace, outermost first."""
    return [int(x) for x in status_fields(pid).get("NSpid", "").split()]


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    state = status_fields(pid).get("State", "")
    return bool(state) and not state.startswith(("Z", "X"))


def parent_map() -> dict[int, int]:
    """pid -> ppid of every live (non-zombie) process, from ``/proc/*/stat``."""
    parents: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return parents
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1 and rest[0] not in (b"Z", b"X"):
            parents[int(name)] = int(rest[1])
    return parents


def start_time(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22).

    Why not the lowest pid: pids wrap around, so an older process can have a
    higher number than one started later.  Gone processes sort last.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return sys.maxsize
    rest = stat[stat.rfind(b")") + 2:].split()
    # rest[0] is field 3 (state); starttime is field 22.
    return int(rest[19]) if len(rest) > 19 else sys.maxsize


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every live descendant of ``root`` (not ``root`` itself)."""
    parents = parent_map() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each pid, ignoring the ones already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(root: int, *, include_root: bool, timeout: float = 5.0) -> None:
    """Stop then kill ``root``'s descendants until none is left.

    SIGSTOP first so a fork bomb cannot outrun the sweep; then SIGKILL.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = descendants(root)
        if include_root and alive(root):
            pids.append(root)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        kill_all(pids)
        time.sleep(0.002)


def returncode_of_bwrap(code: int) -> int:
    """bubblewrap exits ``128 + N`` when its child died of signal N: make it ``-N``."""
    if 128 < code < 128 + 65:
        return -(code - 128)
    return code
