"""What the ``basic`` and ``strict`` workers share: a launcher process, a cgroup, a temp dir.

Why a base class: both launchers start the worker under a process of
their own (the ``basic`` launcher script, bubblewrap), may put it in a
per-worker cgroup and give it a private temp dir; the exit status they
report and how the pieces are torn down must not drift apart.  How a
worker is killed and which processes count as left behind differ, so
those stay with each launcher.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import _procs
from ._cgroups import WorkerCgroup

__all__ = ["ConfinedWorker"]


class ConfinedWorker:
    """A worker under a launcher process; owns its cgroup and temp dir."""

    def __init__(self, proc: subprocess.Popen[bytes], *, cgroup: WorkerCgroup | None,
                 temp_dir: Path) -> None:
        self._proc = proc
        self._cgroup = cgroup
        self._temp_dir = temp_dir
        self._closed = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        code = self._proc.poll()
        return None if code is None else _procs.returncode_of_bwrap(code)

    def wait(self, timeout: float | None = None) -> int:
        return _procs.returncode_of_bwrap(self._proc.wait(timeout))

    def kill(self) -> None:  # pragma: no cover - every launcher has its own
        raise NotImplementedError

    def close(self) -> None:
        """Kill everything, then remove the cgroup and the temp dir (once)."""
        self.kill()
        if self._closed:
            return
        self._closed = True
        if self._cgroup is not None:
            self._cgroup.remove()
        shutil.rmtree(self._temp_dir, ignore_errors=True)
