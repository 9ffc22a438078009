"""The ``basic`` level: no namespaces, but confined before ``exec``.

For machines where bubblewrap cannot run (no user namespaces, not Linux
enough): rlimits, a per-worker cgroup when the host can make one, an
unprivileged uid when the host is root and the interpreter is reachable by
it, no capabilities even when it stays root, a scrubbed environment, and
Landlock for the filesystem (plus TCP, abstract unix sockets and signals
where the kernel's ABI has them).  The launcher script
(``_basic_launch.py``) runs under the host's own interpreter with ``-I -S``,
so nothing from the plugin env runs before the walls are up.

What cannot be had without namespaces is reported off, never papered
over: UDP and named unix sockets stay open; the host's processes stay
visible in ``/proc`` (their command lines too; their environ is guarded by
Landlock's ptrace scoping and the dropped capabilities, and the probe
checks that); and there is no *private* ``/dev/shm``: the host's is left
out of the Landlock rules (neither readable nor writable), so POSIX shared
memory and ``multiprocessing`` semaphores are unavailable to a plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from .._seams import Limits, Protection, SandboxReport, WorkerProcess, WorkerSpec
from . import _procs
from ._bwrap import _ETC_FILES, _ETC_NETWORK, NOBODY, RW_AREAS, _readonly_sources, grant_access
from ._cgroups import WorkerCgroup
from ._confined import ConfinedWorker
from ._limits import processes_of_uid, rlimits
from ._measured import (
    ReportLines,
    capabilities_dropped,
    host_environ,
    limit_lines,
    parent_death,
    process_cleanup,
)

_LAUNCH_SCRIPT = Path(__file__).with_name("_basic_launch.py")
_OS_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc")
#: Not ``/dev/shm``: without a mount namespace it would be the host's (see the docstring).
_DEV_RW = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
           "/dev/pts", "/dev/ptmx")


def reachable_by_others(path: str) -> bool:
    """Whether an unrelated uid can reach (search every parent of) and read ``path``."""
    current = Path(os.path.abspath(path))
    try:
        if not os.stat(current).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in current.parents)
    except OSError:
        return False


class BasicWorker(ConfinedWorker):
    """A worker under the basic launcher (the launcher is its subreaper)."""

    def leftovers(self) -> list[int]:
        parents = _procs.parent_map()
        kids = [p for p, pp in parents.items() if pp == self._proc.pid]
        # The launcher's first child is the worker; pids wrap, so go by start time.
        worker = min(kids, key=lambda p: (_procs.start_time(p), p)) if kids else None
        found = set(_procs.descendants(self._proc.pid, parents))
        if self._cgroup is not None:
            found.update(p for p in self._cgroup.members() if p != self._proc.pid)
        found.discard(worker or -1)
        return sorted(p for p in found if _procs.alive(p))

    def limit_hit(self) -> str | None:
        if self._cgroup is not None and self._cgroup.oom_killed():
            return "memory"
        return "cpu" if self.poll() == -24 else None

    def kill(self) -> None:
        if self._cgroup is not None:
            self._cgroup.kill()
        _procs.kill_tree(self._proc.pid, include_root=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)


class BasicLauncher:
    """Starts workers at the ``basic`` level."""

    level = "basic"

    def __init__(self, *, cgroup: str | None, landlock_abi: int,
                 report: SandboxReport | None = None) -> None:
        self.cgroup = cgroup
        self.landlock_abi = landlock_abi
        self._report = report or SandboxReport(level="basic")

    def report(self) -> SandboxReport:
        return self._report

    def _drop_uid(self, spec: WorkerSpec) -> int | None:
        if os.geteuid() != 0:
            return None
        needed = [str(spec.plugin_env.python), *map(str, _readonly_sources(spec))]
        return NOBODY if all(reachable_by_others(p) for p in needed) else None

    def config(self, spec: WorkerSpec, cgroup: WorkerCgroup | None) -> dict[str, object]:
        uid = self._drop_uid(spec)
        nproc_uid = uid if uid is not None else os.getuid()
        env = dict(spec.env)
        if cgroup is None:
            env.setdefault("MALLOC_ARENA_MAX", "2")
        landlock = None
        if self.landlock_abi > 0:
            ro = [*_OS_READ, *(f"/etc/{n}" for n in _ETC_FILES),
                  *(f"/etc/{n}" for n in (_ETC_NETWORK if spec.network else ())),
                  *_readonly_sources(spec)]
            rw = [*_DEV_RW, str(spec.temp_dir)]
            if spec.workspace is not None:
                ro.append(str(spec.workspace))
                rw += [str(Path(spec.workspace) / a) for a in RW_AREAS]
            landlock = {"ro": ro, "rw": rw}
        return {
            "rlimits": rlimits(spec.limits, nproc_base=processes_of_uid(nproc_uid),
                               use_address_space=cgroup is None),
            "uid": uid, "landlock": landlock, "network": spec.network,
            "cgroup_procs": [str(p) for p in cgroup.procs_files()] if cgroup else [],
            "pass_fds": list(spec.pass_fds), "env": env,
            "cwd": str(spec.workspace or spec.temp_dir),
        }

    def start(self, spec: WorkerSpec) -> WorkerProcess:
        cgroup = None
        if self.cgroup is not None:
            cgroup = WorkerCgroup.create(self.cgroup,
                                         memory_bytes=spec.limits.memory_mb * 1024 * 1024,
                                         max_pids=spec.limits.max_processes + 2)
        try:
            config = self.config(spec, cgroup)
            if config["uid"] is not None:
                grant_access(spec)
            argv = [os.path.realpath(sys.executable), "-I", "-S", str(_LAUNCH_SCRIPT),
                    json.dumps(config), "--", *spec.argv]

            def spawn() -> subprocess.Popen[bytes]:
                with open(spec.stdout_path, "ab") as out, open(spec.stderr_path, "ab") as err:
                    return subprocess.Popen(
                        argv, env={"PATH": "/usr/bin:/bin"}, pass_fds=spec.pass_fds,
                        close_fds=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                        start_new_session=True, cwd="/")

            proc = _procs.on_spawner_thread(spawn)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        return BasicWorker(proc, cgroup=cgroup, temp_dir=Path(spec.temp_dir))


def basic_protections(found: dict[str, Any], launcher: BasicLauncher,
                      limits: Limits) -> list[Protection]:
    """Report lines of the basic level from the probe's findings (``limits``: the probe's)."""
    out = ReportLines()
    add = out.add
    add("filesystem", found.get("home_hidden") and found.get("tmp_private"),
        f"Landlock ABI {launcher.landlock_abi}: only the OS, the plugin env and the workspace",
        "no Landlock: the whole host filesystem is readable")
    shm_closed = (not found.get("shm_leaked") and found.get("shm_write") != "written"
                  and not str(found.get("shm_read", "read")).startswith("read"))
    add("host-shm", shm_closed,
        f"the host's /dev/shm is closed by Landlock (write: {found.get('shm_write')}; "
        f"read: {found.get('shm_read')})",
        f"the host's /dev/shm is open to the plugin (write: {found.get('shm_write')}; "
        f"read: {found.get('shm_read')})")
    add("private-shm", False, "", "no mount namespace: no private /dev/shm (POSIX shared memory "
        "and multiprocessing semaphores are unavailable to the plugin)")
    add("unprivileged-uid", found.get("uid") not in (None, 0), f"uid {found.get('uid')}",
        "worker runs as root: the interpreter is not reachable by an unprivileged uid "
        "(its capabilities: see capabilities-dropped)")
    out.lines.append(capabilities_dropped(found))
    add("network", False, "",
        "no network namespace: UDP and named unix sockets stay open"
        + (", TCP blocked by Landlock" if launcher.landlock_abi >= 4 else ""))
    add("signals-scoped", launcher.landlock_abi >= 6, "Landlock scopes signals and "
        "abstract unix sockets to the worker", "the worker can signal host processes")
    add("no-new-privileges", found.get("no_new_privs"), "NoNewPrivs=1", "NoNewPrivs=0")
    add("scrubbed-environment", found.get("env_clean"),
        "only the variables the host sets (the launcher's environ: "
        f"{found.get('launcher_environ')})",
        f"host variables leak: {found.get('env_extra')}")
    out.lines.append(host_environ(found, found.get("host_environ_own")))
    add("process-limit", found.get("fork_limited"), str(found.get("fork_detail")),
        f"fork limit not enforced ({found.get('fork_detail')})")
    add("memory-limit", found.get("memory_limited"), str(found.get("memory_detail")),
        f"not enforced ({found.get('memory_detail')})")
    out.lines += limit_lines(found, limits)
    add("cgroup", launcher.cgroup is not None, f"cgroup {launcher.cgroup} per worker",
        "no cgroup: leftovers tracked through the subreaper launcher")
    out.lines += [process_cleanup(found, "the launcher is a child subreaper and kills "
                                         "what is left"), parent_death(found)]
    add("pid-namespace", False, "", "no PID namespace: the worker sees host processes and "
        "their command lines")
    return out.lines
