"""A per-worker cgroup: memory and process limits, membership, and kill.

Why cgroups at all: ``RLIMIT_AS`` counts address space, not memory, and
``RLIMIT_NPROC`` counts the whole uid; a cgroup bounds exactly the worker's
processes, and it *lists* them, double-forked ``setsid`` daemons included.
The machines this kit runs on differ: cgroup v2 with the ``memory`` and
``pids`` controllers delegated, or (CI containers as root) the v1 ``memory``
and ``pids`` hierarchies.  :func:`available` says which one works here; the
sandbox report states it.  A cgroup is always created *below the kit's own*
cgroup where the hierarchy places the kit, so outer limits keep applying.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_COUNTER = itertools.count()


@dataclass(frozen=True)
class _Hierarchy:
    """Where a controller's hierarchy is mounted and where the kit sits in it."""

    mount: Path
    own: str  # the kit's cgroup path inside the hierarchy ("/..." )

    def parent(self) -> Path:
        return self.mount / self.own.lstrip("/")


def _mounts() -> list[tuple[str, Path, set[str]]]:
    """(fstype, mount point, super options) of every cgroup mount."""
    found: list[tuple[str, Path, set[str]]] = []
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] in ("cgroup", "cgroup2"):
            found.append((tail[0], Path(fields[4]), set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (or ``""`` for v2) -> the kit's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _find(version: str) -> dict[str, _Hierarchy] | None:
    """The memory and pids hierarchies of cgroup ``version`` ("v1"/"v2"), if usable."""
    own = _own_paths()
    mounts = _mounts()
    if version == "v2":
        for fstype, point, _opts in mounts:
            if fstype != "cgroup2" or "" not in own:
                continue
            parent = point / own[""].lstrip("/")
            try:
                delegated = set((parent / "cgroup.subtree_control").read_text().split())
            except OSError:
                continue
            if {"memory", "pids"} <= delegated:
                hierarchy = _Hierarchy(point, own[""])
                return {"memory": hierarchy, "pids": hierarchy}
        return None
    result: dict[str, _Hierarchy] = {}
    for controller in ("memory", "pids"):
        for fstype, point, opts in mounts:
            if fstype == "cgroup" and controller in opts and controller in own:
                result[controller] = _Hierarchy(point, own[controller])
                break
    return result if len(result) == 2 else None


class WorkerCgroup:
    """One worker's cgroup (v2: one directory; v1: one per controller)."""

    def __init__(self, version: str, dirs: dict[str, Path]) -> None:
        self.version = version
        self._dirs = dirs
        self._members_file = str(dirs["pids"] / "cgroup.procs")

    @classmethod
    def create(cls, version: str, *, memory_bytes: int, max_pids: int) -> WorkerCgroup:
        """Make the cgroup and set its limits; ``OSError`` when the host forbids it."""
        hierarchies = _find(version)
        if hierarchies is None:
            raise OSError(f"no usable cgroup {version} memory+pids hierarchy")
        dirs: dict[str, Path] = {}
        made: list[Path] = []
        try:
            for _ in range(64):
                name = f"vcs-sandbox-{os.getpid()}-{next(_COUNTER)}"
                try:
                    for controller, hierarchy in hierarchies.items():
                        path = hierarchy.parent() / name
                        if path not in made:
                            path.mkdir()
                            made.append(path)
                        dirs[controller] = path
                    break
                # Taken: left by a dead process that had our pid, or a live host in
                # another PID namespace sharing this cgroupfs. Never removed: take the next.
                except FileExistsError:
                    for path in made:
                        with contextlib.suppress(OSError):
                            path.rmdir()
                    made.clear()
                    dirs.clear()
            else:
                raise OSError("no free cgroup name for this worker after 64 tries")
            group = cls(version, dirs)
            group._set_limits(memory_bytes, max_pids)
        except OSError:
            for path in made:
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return group

    def _set_limits(self, memory_bytes: int, max_pids: int) -> None:
        mem, pids = self._dirs["memory"], self._dirs["pids"]
        if self.version == "v2":
            (mem / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (mem / "memory.swap.max").write_text("0")
            (pids / "pids.max").write_text(str(max_pids))
            return
        (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
        # Without this the "limit" only moves the excess to swap.
        with contextlib.suppress(OSError):
            (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (pids / "pids.max").write_text(str(max_pids))

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return sorted({d / "cgroup.procs" for d in self._dirs.values()})

    def add(self, pid: int) -> None:
        """Move ``pid`` into the cgroup (every hierarchy); ``OSError`` when refused."""
        for procs in self.procs_files():
            procs.write_text(str(pid))

    def prewarm(self) -> None:
        """Start the RCU grace period a cgroup attach waits for, ahead of the real one.

        Why: the first process moved into a cgroup after a quiet spell waits
        for an RCU grace period (measured 6-9 ms here, the largest single
        cost of a sandbox start); attaches right after it take 0.2 ms.  So
        the host "moves" itself into the cgroup it is already in (a no-op)
        on a thread while it prepares the launch, and the worker's attach
        finds the grace period over.  Skipped when the host's threads sit in
        different cgroups (moving the process would regroup them); any error
        is ignored: this only saves time.
        """
        own = self._dirs["pids"].parent
        try:
            placements = {Path(f"/proc/self/task/{tid}/cgroup").read_text()
                          for tid in os.listdir("/proc/self/task")}
            if len(placements) == 1:
                (own / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass

    def members(self) -> list[int]:
        """PIDs in the cgroup now (the pids controller sees every one).

        Asked after every call (the hygiene check's "no process left behind"),
        so read with bare ``os`` calls: ``Path.read_text`` cost twice as much.
        The file is opened each time: cgroup v1 caches ``cgroup.procs`` per open
        file, so a kept descriptor would keep answering the first list.
        """
        try:
            fd = os.open(self._members_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return []
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError:
            return []
        finally:
            os.close(fd)
        return sorted({int(x) for x in b"".join(chunks).split()})

    def _read_keyed(self, controller: str, name: str) -> dict[str, int]:
        values: dict[str, int] = {}
        try:
            text = (self._dirs[controller] / name).read_text()
        except OSError:
            return values
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
        return values

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed something in this cgroup."""
        if self.version == "v2":
            return self._read_keyed("memory", "memory.events").get("oom_kill", 0) > 0
        if self._read_keyed("memory", "memory.oom_control").get("oom_kill", 0) > 0:
            return True
        try:
            failcnt = int((self._dirs["memory"] / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return False
        return failcnt > 0 and self._read_keyed("memory", "memory.oom_control").get(
            "under_oom", 0) > 0

    def memory_failures(self) -> int:
        """How often an allocation hit the limit (v1 ``failcnt``, v2 ``max`` events)."""
        if self.version == "v2":
            return self._read_keyed("memory", "memory.events").get("max", 0)
        try:
            return int((self._dirs["memory"] / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def pids_refused(self) -> int:
        """How many forks the pids limit refused."""
        return self._read_keyed("pids", "pids.events").get("max", 0)

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL every member until none is left (forks frozen first)."""
        with contextlib.suppress(OSError):
            (self._dirs["pids"] / "pids.max").write_text("0")
        kill_file = self._dirs["pids"] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            if not members or time.monotonic() > deadline:
                return
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left and delete the cgroup directories."""
        self.kill()
        for path in sorted(set(self._dirs.values()), reverse=True):
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def available() -> tuple[str | None, str]:
    """Which cgroup version works here for a worker, and why (or why not).

    Measured: a throwaway cgroup is created with limits and removed again.
    """
    if os.geteuid() != 0 and _find("v2") is None:
        return None, "not root and no delegated cgroup v2 memory+pids subtree"
    reasons: list[str] = []
    for version in ("v2", "v1"):
        if _find(version) is None:
            reasons.append(f"{version}: no memory+pids hierarchy")
            continue
        try:
            group = WorkerCgroup.create(version, memory_bytes=64 << 20, max_pids=8)
        except OSError as exc:
            reasons.append(f"{version}: {exc.strerror or exc}")
            continue
        group.remove()
        return version, f"cgroup {version} memory+pids per worker"
    return None, "; ".join(reasons)
