"""The per-call write cap: how much a worker grew the workspace's read-write areas.

Why: the workspace has no disk quota, and ``RLIMIT_FSIZE`` bounds one file,
not a million of them.  So the host measures ``cache/``, ``models/`` and
``outputs/`` around every exchange with a worker (and every second or so
while a long call runs) and stops a plugin whose writes grow them past
``Limits.max_written_mb`` or ``Limits.max_written_files``.

Why inotify: walking the areas costs about as much as a whole no-op call,
and most calls write nothing.  An inotify watch on every directory of the
areas (added through ``/proc/self/fd``, so a planted symlink cannot redirect
it) says whether *anything* changed since the last walk; only then is the
tree walked again.  Without inotify (another OS, the watch limit reached,
an event queue overflow) every measurement walks: slower, equally correct.

The walk is the confused deputy's walk: directories are opened with
``O_NOFOLLOW`` relative to their parent's descriptor, never by path, and
nothing is ever read, written or deleted; what the plugin wrote stays where
it is (it is the user's workspace) and the error says where it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .._seams import Limits

__all__ = ["MAX_DEPTH", "Overrun", "Totals", "Window", "WriteMeter"]

#: Directory levels below an area the walk follows; deeper is reported as an overrun.
MAX_DEPTH = 64
#: The read-write areas of a workspace (SPEC 4).
AREAS = ("cache", "models", "outputs")

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_ONLYDIR = 0x400, 0x800, 0x01000000
_WATCH_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
               | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Inotify:
    """An inotify instance that only answers "did anything change since I last asked?"."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self.fd = fd
        self._libc = libc
        self.broken = False
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def pending(self) -> bool:
        """Whether events wait (no read: the cheap question asked after every call)."""
        return self.broken or bool(self._poll.poll(0))

    @classmethod
    def create(cls) -> _Inotify | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc) if fd >= 0 else None

    def watch(self, dir_fd: int) -> None:
        """Watch the directory open as ``dir_fd`` (the inode itself, not a path)."""
        if self.broken:
            return
        path = f"/proc/self/fd/{dir_fd}".encode()
        if self._libc.inotify_add_watch(self.fd, path, _WATCH_MASK) < 0:
            self.broken = True  # ENOSPC (watch limit) or no /proc: walk every time

    def changed(self) -> bool:
        """Whether an event arrived (drains the queue); always True once broken."""
        seen = False
        while True:
            try:
                if not os.read(self.fd, 65536):
                    break
                seen = True
            except BlockingIOError:
                break
            except OSError:
                self.broken = True
                break
        return seen or self.broken

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass
class Totals:
    """Entries and bytes under the areas, overall and per top-level entry (``cache/x``)."""

    entries: int = 0
    bytes: int = 0
    by_top: dict[str, list[int]] = field(default_factory=dict)
    #: Places the walk could not measure (unreadable, too deep), relative to the workspace.
    unmeasured: set[str] = field(default_factory=set)
    #: The walk stopped early because the totals passed the cap.
    truncated: bool = False

    def add(self, top: str, size: int) -> None:
        self.entries += 1
        self.bytes += size
        slot = self.by_top.get(top)
        if slot is None:
            self.by_top[top] = [1, size]
        else:
            slot[0] += 1
            slot[1] += size


def _size(st: os.stat_result) -> int:
    """Disk an entry holds: its blocks, or its length when sparse (filled later via mmap)."""
    blocks = getattr(st, "st_blocks", 0) * 512
    return max(blocks, st.st_size) if stat.S_ISREG(st.st_mode) else blocks


def _walk_area(area_fd: int, area: str, totals: Totals, notify: _Inotify | None,
               stop_entries: int, stop_bytes: int) -> None:
    """Add everything below the area open as ``area_fd`` to ``totals``; never follows links."""
    # (directory fd, its path relative to the workspace, top-level key, depth)
    stack: list[tuple[int, str, str | None, int]] = [(area_fd, area, None, 0)]
    try:
        while stack:
            fd, rel, top, depth = stack.pop()
            try:
                if notify is not None:
                    notify.watch(fd)  # before listing: later changes raise an event
                with os.scandir(fd) as entries:
                    for entry in entries:
                        key = top or f"{area}/{entry.name}"
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue  # gone meanwhile
                        totals.add(key, _size(st))
                        if totals.entries > stop_entries or totals.bytes > stop_bytes:
                            totals.truncated = True
                            return
                        if not stat.S_ISDIR(st.st_mode):
                            continue
                        path = f"{rel}/{entry.name}"
                        if depth + 1 > MAX_DEPTH:
                            totals.unmeasured.add(f"{path} (nested deeper than {MAX_DEPTH})")
                            continue
                        try:
                            child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                        except OSError as exc:
                            totals.unmeasured.add(f"{path} ({exc.strerror})")
                            continue
                        stack.append((child, path, key, depth + 1))
            finally:
                if fd != area_fd:
                    os.close(fd)
    finally:
        for fd, *_ in stack:
            if fd != area_fd:
                os.close(fd)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Overrun:
    """A call that grew the areas past the cap: what, by how much, and where."""

    grown_entries: int
    grown_bytes: int
    max_entries: int
    max_bytes: int
    #: (``cache/x``, entries gained, bytes gained), largest first, at most five.
    where: tuple[tuple[str, int, int], ...]
    unmeasured: tuple[str, ...]
    truncated: bool
    #: What was measured, for the message.
    label: str = "cache/, models/ and outputs/"

    def message(self) -> str:
        more = "at least " if self.truncated else ""
        parts = [f"{self.label} grew by {more}{_human(self.grown_bytes)} in "
                 f"{more}{self.grown_entries} new entries during this call"]
        caps = []
        if self.grown_bytes > self.max_bytes:
            caps.append(f"max_written_mb={self.max_bytes // (1024 * 1024)}")
        if self.grown_entries > self.max_entries:
            caps.append(f"max_written_files={self.max_entries}")
        if caps:
            parts.append(f"above the per-call cap ({', '.join(caps)})")
        if self.unmeasured:
            parts.append("the host cannot measure " + ", ".join(self.unmeasured[:3]))
        text = "; ".join(parts) + "; the worker was stopped"
        if self.where:
            text += ". Nothing was deleted; the growth is in " + ", ".join(
                f"{name} (+{entries} entries, +{_human(size)})"
                for name, entries, size in self.where)
        return text

    def to_json(self) -> dict[str, object]:
        return {"grown_entries": self.grown_entries, "grown_bytes": self.grown_bytes,
                "max_written_files": self.max_entries, "max_written_bytes": self.max_bytes,
                "where": [list(w) for w in self.where], "unmeasured": list(self.unmeasured),
                "truncated": self.truncated}


class Window:
    """One exchange's measurement: a baseline, and checks against it (``check``)."""

    def __init__(self, meter: WriteMeter, base: Totals, limits: Limits) -> None:
        self._meter = meter
        self.base = base
        self._walks = meter.walks
        self.max_entries = limits.max_written_files
        self.max_bytes = limits.max_written_mb * 1024 * 1024
        self.started = time.monotonic()
        self._next = self.started + 0.5

    def due(self) -> bool:
        """Whether a check *during* the call is due (first after 0.5 s, then spaced out)."""
        return time.monotonic() >= self._next

    def check(self) -> Overrun | None:
        """Measure now (walks only if something changed); an :class:`Overrun` or None."""
        if self._meter.unchanged_since(self._walks):
            return None  # the usual case: one poll(2), no walk
        began = time.monotonic()
        now = self._meter.measure(stop_entries=self.base.entries + self.max_entries,
                                  stop_bytes=self.base.bytes + self.max_bytes)
        # Walks stay a small share of the call's time, however big the tree.
        self._next = time.monotonic() + max(0.5, 8 * (time.monotonic() - began))
        grown_entries = now.entries - self.base.entries
        grown_bytes = now.bytes - self.base.bytes
        fresh = sorted(now.unmeasured - self.base.unmeasured)
        if grown_entries <= self.max_entries and grown_bytes <= self.max_bytes and not fresh \
                and not now.truncated:
            return None
        growth = []
        for key, (entries, size) in now.by_top.items():
            was = self.base.by_top.get(key, [0, 0])
            if entries > was[0] or size > was[1]:
                growth.append((key, entries - was[0], size - was[1]))
        growth.sort(key=lambda g: (g[2], g[1]), reverse=True)
        return Overrun(grown_entries, grown_bytes, self.max_entries, self.max_bytes,
                       tuple(growth[:5]), tuple(fresh), now.truncated, self._meter.label)


class WriteMeter:
    """Measures a workspace's read-write areas (one per host, shared by its workers).

    Workers' temp dirs (their ``TMPDIR``: host directories bound into the
    sandbox) are measured with them once added (:meth:`add_dir`).
    """

    def __init__(self, root: str | os.PathLike[str], areas: Iterable[str] = AREAS, *,
                 label: str = "cache/, models/ and outputs/") -> None:
        self.root = Path(root)
        self.areas = tuple(areas)
        self._label = label
        self._dirs: dict[str, Path] = {}
        self._notify = _Inotify.create()
        self._totals: Totals | None = None
        self._lock = threading.Lock()
        #: Walks done so far (the benchmark and the tests read it).
        self.walks = 0

    @property
    def uses_inotify(self) -> bool:
        return self._notify is not None and not self._notify.broken

    @property
    def label(self) -> str:
        return self._label + (" and the worker temp dirs (TMPDIR)" if self._dirs else "")

    def add_dir(self, path: str | os.PathLike[str]) -> None:
        """Measure ``path`` too (named by its last component in reports)."""
        with self._lock:
            self._dirs[Path(path).name] = Path(path)
            self._totals = None

    def remove_dir(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            if self._dirs.pop(Path(path).name, None) is not None:
                self._totals = None

    def unchanged_since(self, walks: int) -> bool:
        """True when nothing changed since walk number ``walks`` (inotify says so)."""
        return (self._notify is not None and self._totals is not None
                and self.walks == walks and not self._notify.pending())

    def measure(self, *, stop_entries: int | None = None,
                stop_bytes: int | None = None) -> Totals:
        """The totals now: the last walk's when nothing changed since, else a new walk."""
        with self._lock:
            changed = self._notify is None or self._notify.changed()
            if self._totals is not None and not changed:
                return self._totals
            totals = self._walk(stop_entries, stop_bytes)
            # A truncated walk is no baseline: the next measurement walks again.
            self._totals = None if totals.truncated else totals
            return totals

    def _walk(self, stop_entries: int | None, stop_bytes: int | None) -> Totals:
        self.walks += 1
        totals = Totals()
        try:
            root_fd = os.open(self.root, _DIR_FLAGS)
        except OSError:
            return totals
        try:
            places: list[tuple[str, str, int | None]] = [(a, a, root_fd) for a in self.areas]
            places += [(name, str(path), None) for name, path in self._dirs.items()]
            for name, path, parent in places:
                try:
                    area_fd = os.open(path, _DIR_FLAGS, dir_fd=parent)
                except OSError:
                    continue
                try:
                    _walk_area(area_fd, name, totals, self._notify,
                               sys.maxsize if stop_entries is None else stop_entries,
                               sys.maxsize if stop_bytes is None else stop_bytes)
                finally:
                    os.close(area_fd)
                if totals.truncated:
                    break
        finally:
            os.close(root_fd)
        return totals

    def begin(self, limits: Limits) -> Window:
        """Start measuring one exchange: the baseline is the areas as they are now."""
        return Window(self, self.measure(), limits)

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None
