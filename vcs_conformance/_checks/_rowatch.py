"""Snapshots of the workspace outside its read-write areas, for the hygiene check.

``hygiene`` reports a call that wrote outside ``cache/``, ``models/`` and
``outputs/``; the runner compares the read-only part of the workspace
before and after every call.  That part grows with every dataset the
dataset checks write, and walking it twice per call made a whole catalogue
quadratic in the datasets it wrote.

So a walk is done only at the start and every ``FULL_WALK_EVERY``-th
snapshot: in between, an inotify watch on every directory of the read-only
part (the inode, so a write made through the sandbox's bind mount of the
same directory raises an event too) names each entry that was created,
written, moved, deleted or had its attributes changed, and only those are
stat'ed again (a new directory is walked).  A call that changed nothing
costs one ``poll``; a new dataset the kit wrote between calls costs a walk
of that dataset only.  Where inotify is missing (not Linux, the watch
limit reached, a queue overflow) every snapshot walks: slower, equally
correct.  Writes through a shared ``mmap`` raise no inotify event, hence
the periodic walk regardless.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..sandbox._written_index import DIR_FLAGS, Inotify

__all__ = ["FULL_WALK_EVERY", "RW_AREAS", "ReadOnlyWatch", "Snapshot", "walk"]

#: The read-write areas of a workspace (SPEC 4): never walked.
RW_AREAS = frozenset({"cache", "models", "outputs"})
#: Relative path -> (size, mtime, ctime, mode).
Snapshot = dict[str, tuple[int, int, int, int]]
#: A walk happens at least this often, events or not (``mmap`` writes raise none).
FULL_WALK_EVERY = 16
_IN_DELETE_SELF, _IN_MOVE_SELF = 0x400, 0x800
#: Events after which a name may be another entry (another inode) than before.
_REPLACED = 0x40 | 0x80 | 0x100 | 0x200  # moved from/to, created, deleted


def _facts(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def walk(root: Path, on_dir: Callable[[str, str], None] | None = None,
         prefix: str = "") -> Snapshot:
    """Every entry below ``root`` except the read-write areas; never follows links.

    ``on_dir`` (called with a directory's prefix, ``""`` or ``"a/b/"``, and
    its path) runs before the directory is listed, so a change made after
    the listing is noticed by whoever it registers the directory with.
    ``prefix`` names ``root`` itself when it is a directory below the top.
    """
    out: Snapshot = {}
    stack = [(prefix, str(root))]
    while stack:
        prefix, directory = stack.pop()
        if on_dir is not None:
            on_dir(prefix, directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not prefix and entry.name in RW_AREAS:
                continue
            rel = prefix + entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            out[rel] = _facts(st)
            if stat.S_ISDIR(st.st_mode):
                stack.append((rel + "/", entry.path))
    return out


class ReadOnlyWatch:
    """The current snapshot of ``root`` outside the read-write areas, kept from events."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.walks = 0
        self._since_walk = 0
        self._snapshot: Snapshot | None = None
        self._notify = Inotify.create()
        #: wd -> (prefix, path) of every watched directory.
        self._dirs: dict[int, tuple[str, str]] = {}

    @property
    def uses_inotify(self) -> bool:
        return self._notify is not None and not self._notify.broken

    def current(self) -> Snapshot:
        """The snapshot as of now: the last one when no event arrived since, updated
        from the events when some did, a new walk periodically or when they cannot say."""
        self._since_walk += 1
        if self._snapshot is not None and self._since_walk < FULL_WALK_EVERY \
                and self._notify is not None:
            events = self._notify.events() if self._notify.pending() else []
            if events == []:
                return self._snapshot
            updated = None if events is None else self._apply(events)
            if updated is not None:
                self._snapshot = updated
                return updated
        self._dirs.clear()
        self._snapshot = walk(self.root, self._watch if self.uses_inotify else None)
        self.walks += 1
        self._since_walk = 0
        return self._snapshot

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def _watch(self, prefix: str, directory: str) -> None:
        if self._notify is None:
            return
        try:
            dir_fd = os.open(directory, DIR_FLAGS)
        except OSError:
            return  # gone or a symlink: nothing to watch, the walk skips it too
        try:  # the inode itself, through /proc: a symlink swapped in cannot redirect it
            wd = self._notify.watch(dir_fd)
        finally:
            os.close(dir_fd)
        if wd is not None:
            self._dirs[wd] = (prefix, directory)

    def _apply(self, events: list[tuple[int, int, str]]) -> Snapshot | None:
        """A new snapshot: the old one with each named entry stat'ed again; None: walk."""
        snap = dict(self._snapshot or {})
        touched: dict[tuple[str, str], bool] = {}  # (rel, path) -> maybe another entry now
        for wd, mask, name in events:
            place = self._dirs.get(wd)
            if place is None:
                continue  # a directory already gone (its IN_IGNORED)
            prefix, directory = place
            if not name:
                if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF) and not prefix:
                    return None  # the workspace itself went away
                continue
            if not prefix and name in RW_AREAS:
                continue
            key = (prefix + name, os.path.join(directory, name))
            touched[key] = touched.get(key, False) or bool(mask & _REPLACED)
            if prefix:  # the directory's own mtime moved too
                touched.setdefault((prefix[:-1], directory), False)
        for (rel, path), replaced in touched.items():
            try:
                st: os.stat_result | None = os.stat(path, follow_symlinks=False)
            except OSError:
                st = None
            old = snap.get(rel)
            was_dir = old is not None and stat.S_ISDIR(old[3])
            is_dir = st is not None and stat.S_ISDIR(st.st_mode)
            fresh = replaced or not (was_dir and is_dir)
            if was_dir and fresh:
                inner = rel + "/"
                for below in [k for k in snap if k.startswith(inner)]:
                    del snap[below]
            if st is None:
                snap.pop(rel, None)
                continue
            snap[rel] = _facts(st)
            if is_dir and fresh:
                snap.update(walk(Path(path), self._watch, prefix=rel + "/"))
        return snap
