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

import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._seams import Limits
from ._written_index import DIR_FLAGS, MAX_DEPTH, Inotify, Totals, WrittenIndex

__all__ = ["MAX_DEPTH", "Overrun", "Totals", "Window", "WriteMeter"]

#: The read-write areas of a workspace (SPEC 4).
AREAS = ("cache", "models", "outputs")


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
        self._version = meter.version
        self.max_entries = limits.max_written_files
        self.max_bytes = limits.max_written_mb * 1024 * 1024
        self.started = time.monotonic()
        self._next = self.started + 0.5

    def due(self) -> bool:
        """Whether a check *during* the call is due (first after 0.5 s, then spaced out)."""
        return time.monotonic() >= self._next

    def check(self) -> Overrun | None:
        """Measure now (walks only if something changed); an :class:`Overrun` or None."""
        if self._meter.unchanged_since(self._version):
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
            was = self.base.by_top.get(key, (0, 0))
            if entries > was[0] or size > was[1]:
                growth.append((key, entries - was[0], size - was[1]))
        growth.sort(key=lambda g: (g[2], g[1]), reverse=True)
        return Overrun(grown_entries, grown_bytes, self.max_entries, self.max_bytes,
                       tuple(growth[:5]), tuple(fresh), now.truncated, self._meter.label)


class WriteMeter:
    """Measures a workspace's read-write areas (one per host, shared by its workers).

    Workers' temp dirs (their ``TMPDIR``: host directories bound into the
    sandbox) are measured with them once added (:meth:`add_dir`).  Between
    measurements an index (``_written_index``) follows inotify's events, so
    a call that wrote one file costs one ``fstatat``, not a walk.
    """

    def __init__(self, root: str | os.PathLike[str], areas: Iterable[str] = AREAS, *,
                 label: str = "cache/, models/ and outputs/") -> None:
        self.root = Path(root)
        self.areas = tuple(areas)
        self._label = label
        self._dirs: dict[str, Path] = {}
        self._notify = Inotify.create()
        self._index = WrittenIndex(self._notify)
        self._totals: Totals | None = None
        self._lock = threading.Lock()
        #: Full walks so far, and measurements that changed something (walks or
        #: index updates); the benchmark and the tests read them.
        self.walks = 0
        self.version = 0

    @property
    def uses_inotify(self) -> bool:
        return self._notify is not None and not self._notify.broken

    @property
    def indexed(self) -> bool:
        """Whether changes are folded in from events (else every change walks)."""
        return self._index.complete

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

    def unchanged_since(self, version: int) -> bool:
        """True when nothing changed since measurement ``version`` (inotify says so)."""
        return (self._notify is not None and self._totals is not None
                and self.version == version and not self._notify.pending())

    def measure(self, *, stop_entries: int | None = None,
                stop_bytes: int | None = None) -> Totals:
        """The totals now: the last ones when nothing changed, updated from the events
        when the index can, else a new walk."""
        with self._lock:
            if self._notify is None:
                events = None
            else:
                events = self._notify.events()
                if self._totals is not None and events == []:
                    return self._totals
            self.version += 1
            if self._totals is not None and events is not None and self._index.apply(events):
                self._totals = self._index.totals.snapshot()
                return self._totals
            totals = self._walk(stop_entries, stop_bytes)
            # A truncated walk is no baseline: the next measurement walks again.
            self._totals = None if totals.truncated else totals
            return totals

    def _walk(self, stop_entries: int | None, stop_bytes: int | None) -> Totals:
        self.walks += 1
        try:
            root_fd = os.open(self.root, DIR_FLAGS)
        except OSError:
            self._index.close()
            return Totals()
        try:
            places: list[tuple[str, str, int | None]] = [(a, a, root_fd) for a in self.areas]
            places += [(name, str(path), None) for name, path in self._dirs.items()]
            self._index.walk(places, sys.maxsize if stop_entries is None else stop_entries,
                             sys.maxsize if stop_bytes is None else stop_bytes)
        finally:
            os.close(root_fd)
        return self._index.totals.snapshot()

    def begin(self, limits: Limits) -> Window:
        """Start measuring one exchange: the baseline is the areas as they are now."""
        return Window(self, self.measure(), limits)

    def close(self) -> None:
        with self._lock:
            self._index.close()
            if self._notify is not None:
                self._notify.close()
                self._notify = None
