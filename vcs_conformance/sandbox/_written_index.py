"""What the write meter knows between calls: inotify, and an index of the areas.

Why an index: the read-write areas only grow during a run (``outputs/``
gains a WAV per ``synthesize`` call), so walking them after every call that
wrote something costs more with every call: over a catalogue run the walks
alone cost more than the kit's whole per-example budget.  inotify names the
directory and the entry of each change, so the index re-stats only those
entries, and walks only directories that are new.  Anything it cannot
follow exactly (a queue overflow, a watch limit, an area itself moved or
deleted, more directories than :data:`MAX_DIRS`) falls back to a full walk,
which is what every measurement did before: slower, equally correct.

Every directory in the index stays open (``O_NOFOLLOW`` relative to its
parent's descriptor, never by path), so an entry is re-stated with
``fstatat(dir_fd, name, AT_SYMLINK_NOFOLLOW)``: a planted symlink is an
entry of its own size, never followed.  Nothing is ever read, written or
deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import stat
import struct
import sys
from dataclasses import dataclass, field

__all__ = ["DIR_FLAGS", "MAX_DEPTH", "MAX_DIRS", "Inotify", "Totals", "WrittenIndex", "disk_size"]

#: Directory levels below an area the walk follows; deeper is reported as an overrun.
MAX_DEPTH = 64
#: Directories the index keeps open; a tree with more is walked on every change.
MAX_DIRS = 512
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_ONLYDIR = 0x400, 0x800, 0x01000000
_IN_Q_OVERFLOW, _IN_IGNORED = 0x4000, 0x8000
_WATCH_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
               | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class Inotify:
    """An inotify instance: "did anything change?" (one poll) and "what?" (the events)."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self.fd = fd
        self._libc = libc
        self.broken = False
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @classmethod
    def create(cls) -> Inotify | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc) if fd >= 0 else None

    def pending(self) -> bool:
        """Whether events wait (no read: the cheap question asked after every call)."""
        return self.broken or bool(self._poll.poll(0))

    def watch(self, dir_fd: int) -> int | None:
        """Watch the directory open as ``dir_fd`` (the inode itself, not a path); its wd."""
        if self.broken:
            return None
        wd = int(self._libc.inotify_add_watch(self.fd, f"/proc/self/fd/{dir_fd}".encode(),
                                              _WATCH_MASK))
        if wd < 0:
            self.broken = True  # ENOSPC (watch limit) or no /proc: walk every time
            return None
        return wd

    def events(self) -> list[tuple[int, int, str]] | None:
        """Drain the queue: (wd, mask, name) of each event; None when they cannot be trusted
        (an overflow, a read error, a broken instance): the caller walks everything."""
        out: list[tuple[int, int, str]] = []
        trusted = not self.broken
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                self.broken = True
                return None
            if not data:
                break
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, pos)
                raw = data[pos + _EVENT.size:pos + _EVENT.size + size]
                pos += _EVENT.size + size
                if mask & _IN_Q_OVERFLOW:
                    trusted = False
                out.append((wd, mask, os.fsdecode(raw.rstrip(b"\0"))))
        return out if trusted else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass
class Totals:
    """Entries and bytes under the areas, overall and per top-level entry (``cache/x``)."""

    entries: int = 0
    bytes: int = 0
    #: top-level key -> (entries, bytes); tuples, so a shallow copy is a snapshot.
    by_top: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Places the walk could not measure (unreadable, too deep), relative to the workspace.
    unmeasured: set[str] = field(default_factory=set)
    #: The walk stopped early because the totals passed the cap.
    truncated: bool = False

    def add(self, top: str, size: int, count: int = 1) -> None:
        self.entries += count
        self.bytes += size
        n, b = self.by_top.get(top, (0, 0))
        if n + count:
            self.by_top[top] = (n + count, b + size)
        else:
            self.by_top.pop(top, None)

    def snapshot(self) -> Totals:
        return Totals(self.entries, self.bytes, dict(self.by_top), set(self.unmeasured),
                      self.truncated)


def disk_size(st: os.stat_result) -> int:
    """Disk an entry holds: its blocks, or its length when sparse (filled later via mmap)."""
    blocks = getattr(st, "st_blocks", 0) * 512
    return max(blocks, st.st_size) if stat.S_ISREG(st.st_mode) else blocks


@dataclass
class _Entry:
    size: int
    top: str
    ino: int = 0
    child: int | None = None  # the wd of the directory it is, when indexed
    unmeasured: str | None = None  # why a directory could not be indexed


@dataclass
class _Dir:
    fd: int
    rel: str  # relative to the workspace, for messages
    depth: int
    top: str | None  # the key of everything below; None for an area itself
    area: str
    parent: tuple[int, str] | None = None  # (wd, name) in the parent directory
    wd: int = 0
    entries: dict[str, _Entry] = field(default_factory=dict)


class _TooMany(Exception):
    """More directories than the index keeps open."""


class WrittenIndex:
    """Every entry below the areas, kept current from inotify events.

    Built by a full walk (:meth:`walk`); :meth:`apply` then folds in a batch
    of events and returns False when only a new walk can say (the caller
    walks).  ``totals`` is exact after each (or ``truncated``).
    """

    def __init__(self, notify: Inotify | None) -> None:
        self.notify = notify
        self.totals = Totals()
        self._dirs: dict[int, _Dir] = {}
        #: False: no index to update (a walk cut short, too many directories, no
        #: inotify): every change means a full walk.
        self.complete = False

    # -- the full walk ---------------------------------------------------------------

    def walk(self, places: list[tuple[str, str, int | None]], stop_entries: int,
             stop_bytes: int) -> None:
        """Measure ``places`` ((name, path, parent fd or None)) from scratch, indexing them
        when inotify can keep the index current."""
        self.close()
        if self.notify is not None and not self.notify.broken:
            try:
                self._walk(places, stop_entries, stop_bytes, keep=True)
                self.complete = not self.totals.truncated and not self.notify.broken
            except _TooMany:
                pass
            if self.complete:
                return
            self.close()
        self._walk(places, stop_entries, stop_bytes, keep=False)

    def _walk(self, places: list[tuple[str, str, int | None]], stop_entries: int,
              stop_bytes: int, *, keep: bool) -> None:
        self.totals = Totals()
        for name, path, parent in places:
            try:
                fd = os.open(path, DIR_FLAGS, dir_fd=parent)
            except OSError:
                continue
            area = _Dir(fd, name, 0, None, name)
            if keep:
                self._register(area)
            try:
                self._scan(area, stop_entries, stop_bytes, keep=keep)
            finally:
                if not keep:
                    os.close(fd)
            if self.totals.truncated:
                return

    def _register(self, d: _Dir) -> None:
        """Watch ``d`` and keep it open (index mode); ``_TooMany`` past :data:`MAX_DIRS`."""
        assert self.notify is not None
        wd = self.notify.watch(d.fd) if len(self._dirs) < MAX_DIRS else None
        if wd is None:
            os.close(d.fd)
            raise _TooMany
        d.wd = wd
        self._dirs[wd] = d

    def _scan(self, root: _Dir, stop_entries: int, stop_bytes: int, *, keep: bool) -> None:
        """Add everything below ``root`` (open; registered when ``keep``) to the totals.

        Without ``keep`` (walk-only) each directory is watched (so a later
        change is noticed) and closed once listed, as the walk always did.
        """
        stack = [root]
        try:
            while stack:
                d = stack.pop()
                try:
                    if not keep and self.notify is not None:
                        self.notify.watch(d.fd)  # before listing: later changes raise an event
                    with os.scandir(d.fd) as entries:
                        for item in entries:
                            try:
                                st = item.stat(follow_symlinks=False)
                            except OSError:
                                continue  # gone meanwhile
                            entry = self._entry(d, item.name, st)
                            if self.totals.entries > stop_entries \
                                    or self.totals.bytes > stop_bytes:
                                self.totals.truncated = True
                                return
                            if stat.S_ISDIR(st.st_mode):
                                child = self._open_child(d, item.name, entry, keep=keep)
                                if child is not None:
                                    stack.append(child)
                finally:
                    if not keep and d is not root:
                        os.close(d.fd)
        finally:
            if not keep:
                for d in stack:
                    if d is not root:
                        os.close(d.fd)

    def _entry(self, d: _Dir, name: str, st: os.stat_result) -> _Entry:
        entry = _Entry(disk_size(st), d.top or f"{d.area}/{name}", st.st_ino)
        d.entries[name] = entry
        self.totals.add(entry.top, entry.size)
        return entry

    def _open_child(self, d: _Dir, name: str, entry: _Entry, *, keep: bool) -> _Dir | None:
        path = f"{d.rel}/{name}"
        if d.depth + 1 > MAX_DEPTH:
            entry.unmeasured = f"{path} (nested deeper than {MAX_DEPTH})"
        else:
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=d.fd)
            except OSError as exc:
                entry.unmeasured = f"{path} ({exc.strerror})"
            else:
                child = _Dir(fd, path, d.depth + 1, entry.top, d.area, parent=(d.wd, name))
                if keep:
                    self._register(child)
                    entry.child = child.wd
                return child
        self.totals.unmeasured.add(entry.unmeasured)
        return None

    # -- events ----------------------------------------------------------------------

    def apply(self, events: list[tuple[int, int, str]]) -> bool:
        """Fold ``events`` in; False when a full walk is needed instead."""
        if not self.complete:
            return False
        touched: dict[tuple[int, str], None] = {}
        for wd, mask, name in events:
            d = self._dirs.get(wd)
            if d is None:
                continue  # a directory already dropped (its IN_IGNORED, late events)
            if not name:
                if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF) and d.parent is None:
                    return False  # an area itself went away: start over
                continue  # the parent's own event about it says what changed
            touched[(wd, name)] = None
            if d.parent is not None:
                touched[d.parent] = None  # the directory's own size may have grown
        try:
            fresh = [change for key in touched if (change := self._restat(*key)) is not None]
            for d, name, st in fresh:  # after every drop: a moved directory keeps its wd
                if self._dirs.get(d.wd) is d:
                    self._add(d, name, st)
        except _TooMany:
            self.close()
            return False
        return not self.notify or not self.notify.broken

    def _restat(self, wd: int, name: str) -> tuple[_Dir, str, os.stat_result] | None:
        """Drop ``name``'s old record (with its subtree, unless the same directory);
        what to add back."""
        d = self._dirs.get(wd)
        if d is None:
            return None
        try:
            st: os.stat_result | None = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
        except OSError:
            st = None
        old = d.entries.get(name)
        if old is not None:
            if st is not None and stat.S_ISDIR(st.st_mode) and old.ino == st.st_ino \
                    and (old.child is not None or old.unmeasured is not None):
                size = disk_size(st)
                self.totals.add(old.top, size - old.size, count=0)
                old.size = size
                return None
            self._drop(d, name)
        return None if st is None else (d, name, st)

    def _add(self, d: _Dir, name: str, st: os.stat_result) -> None:
        if name in d.entries:
            self._drop(d, name)
        entry = self._entry(d, name, st)
        if stat.S_ISDIR(st.st_mode):
            child = self._open_child(d, name, entry, keep=True)
            if child is not None:  # new: index what is in it already (events tell the future)
                self._scan(child, sys.maxsize, sys.maxsize, keep=True)

    def _drop(self, d: _Dir, name: str) -> None:
        entry = d.entries.pop(name)
        self.totals.add(entry.top, -entry.size, count=-1)
        if entry.unmeasured is not None:
            self.totals.unmeasured.discard(entry.unmeasured)
        if entry.child is not None:
            child = self._dirs.pop(entry.child, None)
            if child is not None:
                for sub in list(child.entries):
                    self._drop(child, sub)
                with contextlib.suppress(OSError):
                    os.close(child.fd)

    def close(self) -> None:
        """Forget the index (its descriptors closed; the watches stay with the inotify)."""
        for d in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(d.fd)
        self._dirs.clear()
        self.complete = False
