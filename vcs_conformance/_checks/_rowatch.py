"""Snapshots of the workspace outside its read-write areas, for the hygiene check.

``hygiene`` reports a call that wrote outside ``cache/``, ``models/`` and
``outputs/``; the runner compares the read-only part of the workspace
before and after every call.  That part grows with every dataset the
dataset checks write, and walking it twice per call made a whole catalogue
quadratic in the datasets it wrote.

So a walk is repeated only when something may have changed: an inotify
watch on every directory of the read-only part (the inode, so a write made
through the sandbox's bind mount of the same directory raises an event too)
says whether anything was created, written, moved, deleted or had its
attributes changed since the last walk.  A call that changed nothing costs
one ``poll`` instead of a walk; a new dataset the kit wrote between calls
costs one walk.  Where inotify is missing (not Linux, the watch limit
reached, a queue overflow) every snapshot walks: slower, equally correct.
Writes through a shared ``mmap`` raise no inotify event, so every
``FULL_WALK_EVERY``-th snapshot walks regardless.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import stat
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["FULL_WALK_EVERY", "RW_AREAS", "ReadOnlyWatch", "Snapshot", "walk"]

#: The read-write areas of a workspace (SPEC 4): never walked.
RW_AREAS = frozenset({"cache", "models", "outputs"})
#: Relative path -> (size, mtime, ctime, mode).
Snapshot = dict[str, tuple[int, int, int, int]]
#: A walk happens at least this often, events or not (``mmap`` writes raise none).
FULL_WALK_EVERY = 16

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_ONLYDIR = 0x400, 0x800, 0x01000000
_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
         | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR)


def walk(root: Path, on_dir: Callable[[str], None] | None = None) -> Snapshot:
    """Every entry below ``root`` except the read-write areas; never follows links.

    ``on_dir`` (a callable taking a directory path) is called for each
    directory before it is listed, so a change made after the listing is
    noticed by whoever it registers the directory with.
    """
    out: Snapshot = {}
    stack = [("", str(root))]
    while stack:
        prefix, directory = stack.pop()
        if on_dir is not None:
            on_dir(directory)
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
            out[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                stack.append((rel + "/", entry.path))
    return out


class ReadOnlyWatch:
    """The current snapshot of ``root`` outside the read-write areas, walked only on change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.walks = 0
        self._since_walk = 0
        self._snapshot: Snapshot | None = None
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._poll: select.poll | None = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
                if fd >= 0:
                    self._fd, self._libc = fd, libc
                    self._poll = select.poll()
                    self._poll.register(fd, select.POLLIN)

    @property
    def uses_inotify(self) -> bool:
        return self._fd >= 0

    def current(self) -> Snapshot:
        """The snapshot as of now: the last one when no event arrived since, else a walk."""
        self._since_walk += 1
        if (self._snapshot is None or self._since_walk >= FULL_WALK_EVERY
                or self._changed()):
            self._snapshot = walk(self.root, self._watch if self.uses_inotify else None)
            self.walks += 1
            self._since_walk = 0
        return self._snapshot

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def _watch(self, directory: str) -> None:
        if self._libc is None or self._fd < 0:
            return
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            dir_fd = os.open(directory, flags)
        except OSError:
            return  # gone or a symlink: nothing to watch, the walk skips it too
        try:  # the inode itself, through /proc: a symlink swapped in cannot redirect it
            if self._libc.inotify_add_watch(self._fd, f"/proc/self/fd/{dir_fd}".encode(),
                                            _MASK) < 0:
                self.close()  # the watch limit (ENOSPC) or no /proc: walk every time
        finally:
            os.close(dir_fd)

    def _changed(self) -> bool:
        """Whether any event arrived since the last question (drains the queue)."""
        if not self.uses_inotify:
            return True
        assert self._poll is not None
        if not self._poll.poll(0):
            return False
        while True:
            try:
                if not os.read(self._fd, 65536):
                    return True
            except BlockingIOError:
                return True
            except OSError:
                self.close()
                return True
