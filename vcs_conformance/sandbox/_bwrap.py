"""The ``strict`` level: every worker in its own bubblewrap sandbox.

Layout of one launch (host running as root, the CI container case)::

    bwrap #1 as root: builds the filesystem view (it can read paths under
    0700 directories such as a pyenv in /root); its child then blocks on
    --block-fd while the host sets its rlimits (prlimit(2): the host may
    lack CAP_SYS_RESOURCE, so it sets them while the child is still its
    own uid), which everything below inherits
      -> setpriv --reuid 65534: drops to an unprivileged uid, so the kernel
         enforces RLIMIT_NPROC (it exempts root, and a sandbox user mapped
         onto host root *is* root to it)
        -> bwrap #2 as 65534: new user (nested ones disabled), PID, IPC,
           UTS, cgroup and network namespaces, --new-session,
           --die-with-parent, no capabilities, fresh /proc and /dev; its
           child (the PID namespace's init) then blocks on --block-fd while
           the host puts it in the worker cgroup and sets its rlimits
           (prlimit(2)), so both hold before the worker is forked
          -> python -I worker

Why the host confines the held processes, not ``sh`` and ``prlimit`` at
the head of the chain: two fewer programs to start, and most of the chain
(bwrap #1's mounts, setpriv, bwrap #2) runs while the cgroup attach's RCU grace period (6-9 ms
measured, see :meth:`WorkerCgroup.prewarm`), started on a thread before the
launch, runs out; the attach then finds it over and takes 0.2-0.5 ms.  Only
the sandbox's init and what it forks are confined: the two bwrap monitors
and setpriv above it run no plugin code.

A host that is not root runs ``[sh (joins a delegated cgroup) ->] prlimit ->
one bwrap`` with all of it.  Paths are bound at their host locations, so
nothing translates paths.  Everything is decided before ``exec``: ``.pth``
files in the plugin env run inside the walls.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import stat
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._seams import Limits, Protection, SandboxReport, WorkerProcess, WorkerSpec
from ..errors import SandboxUnavailable
from . import _procs
from ._cgroups import WorkerCgroup
from ._confined import ConfinedWorker
from ._limits import apply_rlimits, processes_of_uid, rlimits, tmpfs_bytes
from ._measured import (
    ReportLines,
    capabilities_dropped,
    host_environ,
    limit_lines,
    parent_death,
    process_cleanup,
)

#: The uid/gid a root host drops to before the sandbox is made.
NOBODY = 65534

#: Read-only OS files a Python worker needs from ``/etc`` (not all of it:
#: no shadow, no keys, no host config).
_ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
    "host.conf", "gai.conf", "protocols", "services", "mime.types",
    "ssl/certs", "ca-certificates", "ca-certificates.conf", "alternatives",
    "fonts", "os-release", "debian_version",
)
#: Only with ``permissions.network``: name resolution of the host network.
_ETC_NETWORK = ("resolv.conf", "hosts")
#: Top-level OS directories, bound read-only (or mirrored when a symlink).
_OS_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Read-write areas of a workspace (SPEC 4).
RW_AREAS = ("cache", "models", "outputs")


@dataclass(frozen=True)
class StrictSetup:
    """What the probe found on this machine for ``strict``."""

    bwrap: str
    prlimit: str
    setpriv: str | None  # set: root host, drop to NOBODY before the sandbox
    cgroup: str | None  # "v1" / "v2" / None
    shell: str = "/bin/sh"


class _Mounts:
    """Builds bwrap mount options so parents come before children.

    bwrap creates a missing mount point's ancestors with the mode of the
    host directory; a 0700 ``/root`` would then be untraversable for the
    sandbox user, so every ancestor is created explicitly (0755, empty).
    """

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}
        self._bound: list[str] = []

    def _under_bound(self, path: str) -> bool:
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in self._bound)

    def _ancestors(self, path: str) -> None:
        parts = Path(path).parts[1:-1]
        current = ""
        for part in parts:
            current += "/" + part
            if current in self._dirs or self._under_bound(current):
                continue
            self.args += ["--dir", current]
            self._dirs.add(current)

    def tmpfs(self, path: str, size: int) -> None:
        self._ancestors(path)
        self.args += ["--perms", "1777", "--size", str(size), "--tmpfs", path]
        self._dirs.add(path)

    def bind(self, path: str, *, writable: bool) -> None:
        if not os.path.lexists(path):
            return
        if os.path.islink(path) and path in _OS_DIRS:
            self.args += ["--symlink", os.readlink(path), path]
            return
        self._ancestors(path)
        self.args += ["--bind" if writable else "--ro-bind", path, path]
        self._bound.append(path)


def _readonly_sources(spec: WorkerSpec) -> list[str]:
    env = spec.plugin_env
    paths = [Path(p) for p in env.readonly_paths] + [Path(p) for p in env.sys_path]
    real_python = Path(os.path.realpath(env.python))
    if real_python.parent.name == "bin":
        paths.append(real_python.parent.parent)  # the interpreter's real prefix
    paths.append(Path(os.path.abspath(env.python)).parent.parent)  # venv (or prefix)
    if spec.worker_script is not None:
        paths.append(Path(spec.worker_script))
    out: list[str] = []
    for p in paths:
        text = os.path.normpath(os.path.abspath(p))
        if text not in out and text != "/" and not text.startswith(("/usr/", "/proc", "/dev")):
            out.append(text)
    return out


def filesystem_args(spec: WorkerSpec) -> list[str]:
    """The whole filesystem view of a worker, as bwrap options (bound in place)."""
    m = _Mounts()
    for top in _OS_DIRS:
        m.bind(top, writable=False)
    etc = list(_ETC_FILES) + (list(_ETC_NETWORK) if spec.network else [])
    for name in etc:
        m.bind(f"/etc/{name}", writable=False)
    m.tmpfs("/tmp", tmpfs_bytes(spec.limits))
    binds: list[tuple[str, bool]] = [(p, False) for p in _readonly_sources(spec)]
    if spec.workspace is not None:
        ws = os.path.normpath(os.path.abspath(spec.workspace))
        binds.append((ws, False))
        binds += [(f"{ws}/{area}", True) for area in RW_AREAS if os.path.isdir(f"{ws}/{area}")]
    binds.append((os.path.normpath(os.path.abspath(spec.temp_dir)), True))
    # Parents first, so a read-write area is bound on top of its read-only workspace.
    for path, writable in sorted(binds, key=lambda b: (b[0].count("/"), b[0])):
        m.bind(path, writable=writable)
    return m.args


def _namespace_args(spec: WorkerSpec, info_fd: int) -> list[str]:
    args = [
        "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
        "--unshare-uts", "--unshare-cgroup", "--hostname", "vcs-sandbox",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--info-fd", str(info_fd),
    ]
    if not spec.network:
        args.append("--unshare-net")
    return args


def _inner_fs_args(spec: WorkerSpec) -> list[str]:
    shm = min(tmpfs_bytes(spec.limits), 64 * 1024 * 1024)
    return ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(shm), "--tmpfs", "/dev/shm"]


def worker_rlimits(spec: WorkerSpec, setup: StrictSetup,
                   cgroup: WorkerCgroup | None) -> dict[str, tuple[int, int]]:
    """The rlimits of one worker: RLIMIT_AS only without a cgroup for memory."""
    uid = NOBODY if setup.setpriv else os.getuid()
    return rlimits(spec.limits, nproc_base=processes_of_uid(uid),
                   use_address_space=cgroup is None)


def build_argv(spec: WorkerSpec, setup: StrictSetup, info_fd: int,
               cgroup: WorkerCgroup | None, *, outer_info_fd: int = -1,
               outer_block_fd: int = -1, block_fd: int = -1) -> list[str]:
    """The full command line for one sandboxed worker (see the module docstring).

    A root host (``setup.setpriv``) passes ``outer_info_fd`` and
    ``outer_block_fd`` (bwrap #1 reports its child there and holds it for
    the rlimits) and ``block_fd`` (bwrap #2 holds the sandbox's init there
    for the cgroup); see :meth:`StrictLauncher._confine`.
    """
    cwd = str(spec.workspace or spec.temp_dir)
    inner = [setup.bwrap, *_namespace_args(spec, info_fd)]
    argv: list[str] = []
    if setup.setpriv:
        if min(outer_info_fd, outer_block_fd, block_fd) < 0:
            raise ValueError("a root host confines the sandbox while bwrap holds it: pass "
                             "outer_info_fd, outer_block_fd and block_fd")
        # /proc for bwrap #2's uid_map; /dev as one bind: bwrap #2 makes its own.
        argv += [setup.bwrap, "--die-with-parent", "--info-fd", str(outer_info_fd),
                 "--block-fd", str(outer_block_fd), *filesystem_args(spec),
                 "--bind", "/proc", "/proc", "--dev-bind", "/dev", "/dev", "--remount-ro", "/",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--", setup.setpriv, "--reuid", str(NOBODY), "--regid", str(NOBODY),
                 "--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]
        inner += ["--block-fd", str(block_fd), "--bind", "/", "/", *_inner_fs_args(spec)]
    else:
        if cgroup is not None:
            join = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; '
                    'shift; exec "$@"')
            argv += [setup.shell, "-c", join, "vcs-sandbox-join",
                     *map(str, cgroup.procs_files()), "--"]
        limits = worker_rlimits(spec, setup, cgroup)
        argv += [setup.prlimit, *(f"--{k}={s}:{h}" for k, (s, h) in limits.items()), "--"]
        inner += [*filesystem_args(spec), *_inner_fs_args(spec), "--remount-ro", "/"]
    argv += [*inner, "--chdir", cwd, "--", *spec.argv]
    return argv


def _add_mode(path: str, bits: int) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    if st.st_mode & bits != bits:
        os.chmod(path, stat.S_IMODE(st.st_mode) | bits)


def _walk(root: str) -> Iterable[tuple[str, bool]]:
    """(path, is_dir) of ``root`` and everything below, never following symlinks."""
    yield root, True
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            yield os.path.join(dirpath, name), True
        for name in filenames:
            yield os.path.join(dirpath, name), False


def grant_access(spec: WorkerSpec) -> None:
    """Give the unprivileged sandbox uid what it needs, and nothing else.

    Only when the host is root (it drops to ``NOBODY``): the read-write
    areas and the temp dir become the sandbox uid's, the workspace root and
    ``datasets/`` become readable by others.  Symlinks are never followed
    (a plugin may have planted one pointing at ``/etc/shadow``).
    """
    os.chown(spec.temp_dir, NOBODY, NOBODY)
    os.chmod(spec.temp_dir, 0o700)
    if spec.workspace is None:
        return
    ws = str(spec.workspace)
    _add_mode(ws, 0o005)
    datasets = os.path.join(ws, "datasets")
    if os.path.isdir(datasets) and not os.path.islink(datasets):
        for path, is_dir in _walk(datasets):
            _add_mode(path, 0o005 if is_dir else 0o004)
    for area in RW_AREAS:
        top = os.path.join(ws, area)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for path, _ in _walk(top):
            st = os.lstat(path)
            if st.st_uid != NOBODY or st.st_gid != NOBODY:
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


class SandboxedWorker(ConfinedWorker):
    """A worker inside bubblewrap; owns its cgroup and temp dir."""

    def __init__(self, proc: subprocess.Popen[bytes], *, init_pid: int | None,
                 cgroup: WorkerCgroup | None, temp_dir: Path) -> None:
        super().__init__(proc, cgroup=cgroup, temp_dir=temp_dir)
        self._init = init_pid
        self._depth = len(_procs.nspids(os.getpid())) or 1
        #: Host pid of the worker (pid 2 inside), once a scan has seen it.
        self._worker_pid: int | None = None

    @property
    def init_pid(self) -> int | None:
        """Host pid of the sandbox's PID-namespace init (bwrap's reaper)."""
        return self._init

    def _sandbox_pids(self) -> list[int]:
        """Host pids of the processes in the worker's PID namespace but init and the worker."""
        if self._cgroup is not None:
            candidates = self._cgroup.members()
            # The usual answer, asked after every call: the cgroup holds just the init
            # and the worker, both known, so no /proc/<pid>/status is read.
            if self._worker_pid is not None and set(candidates) <= {self._init,
                                                                    self._worker_pid}:
                return []
        elif self._init is not None:
            candidates = _procs.descendants(self._init)
        else:
            return []
        found: list[int] = []
        for pid in candidates:
            chain = _procs.nspids(pid)
            if len(chain) > self._depth and chain[self._depth] not in (1, 2):
                found.append(pid)
            elif len(chain) > self._depth and chain[self._depth] == 2:
                self._worker_pid = pid
        return sorted(found)

    def leftovers(self) -> list[int]:
        # Inside the namespace, 1 is bwrap's reaper and 2 the worker itself.
        return [pid for pid in self._sandbox_pids() if _procs.alive(pid)]

    def limit_hit(self) -> str | None:
        if self._cgroup is not None and self._cgroup.oom_killed():
            return "memory"
        code = self.poll()
        if code == -24:  # SIGXCPU: RLIMIT_CPU's soft limit
            return "cpu"
        if code == -9 and self._cgroup is not None and self._cgroup.memory_failures() > 0:
            return "memory"
        return None

    def kill(self) -> None:
        if self._init is not None:
            _procs.kill_all([self._init])  # the PID namespace dies with its init
        if self._cgroup is not None:
            self._cgroup.kill()
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            _procs.kill_tree(self._proc.pid, include_root=True)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


class StrictLauncher:
    """Starts workers in bubblewrap sandboxes (``strict``)."""

    level = "strict"

    def __init__(self, setup: StrictSetup, report: SandboxReport) -> None:
        self.setup = setup
        self._report = report

    def report(self) -> SandboxReport:
        return self._report

    def start(self, spec: WorkerSpec) -> WorkerProcess:
        cgroup: WorkerCgroup | None = None
        if self.setup.cgroup is not None:
            cgroup = WorkerCgroup.create(
                self.setup.cgroup, memory_bytes=spec.limits.memory_mb * 1024 * 1024,
                max_pids=spec.limits.max_processes + 4)  # + the launch chain
            threading.Thread(target=cgroup.prewarm, name="vcs-cgroup-prewarm",
                             daemon=True).start()
        try:
            return self._start(spec, cgroup)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise

    def _start(self, spec: WorkerSpec, cgroup: WorkerCgroup | None) -> SandboxedWorker:
        if self.setup.setpriv:
            grant_access(spec)
        env = dict(spec.env)
        if cgroup is None:
            env.setdefault("MALLOC_ARENA_MAX", "2")  # RLIMIT_AS counts thread arenas
        info_r, info_w = os.pipe()
        rooted = self.setup.setpriv is not None
        outer_r, outer_w = os.pipe() if rooted else (-1, -1)
        outer_block_r, outer_block_w = os.pipe() if rooted else (-1, -1)
        block_r, block_w = os.pipe() if rooted else (-1, -1)
        extra = (info_w, outer_w, outer_block_r, block_r) if rooted else (info_w,)
        mine = (info_r, outer_r, outer_block_w, block_w)
        try:
            # Counted now, while the cgroup's grace period runs, not while bwrap waits.
            limits = worker_rlimits(spec, self.setup, cgroup) if rooted else {}
            argv = build_argv(spec, self.setup, info_w, cgroup, outer_info_fd=outer_w,
                              outer_block_fd=outer_block_r, block_fd=block_r)

            def spawn() -> subprocess.Popen[bytes]:
                with open(spec.stdout_path, "ab") as out, open(spec.stderr_path, "ab") as err:
                    return subprocess.Popen(
                        argv, env=env, pass_fds=(*spec.pass_fds, *extra), close_fds=True,
                        stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                        start_new_session=True, cwd="/")

            proc = _procs.on_spawner_thread(spawn)
        except BaseException:
            for fd in mine:
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in extra:
                os.close(fd)
        if rooted:
            init_pid = self._confine(proc, spec, info_r, limits, cgroup, outer_r,
                                     outer_block_w, block_w)
        else:
            init_pid = _child_pid(info_r)
        worker = SandboxedWorker(proc, init_pid=init_pid, cgroup=cgroup,
                                 temp_dir=Path(spec.temp_dir))
        if init_pid is None:
            code = worker.wait(10)
            worker.close()
            raise SandboxUnavailable(
                f"bubblewrap could not start the worker (exit {code}): "
                + (_tail(spec.stderr_path) or "no message"),
                hint="run `vcs-conformance` with --sandbox basic to see whether the "
                     "plugin starts outside the sandbox; report the message above")
        return worker

    def _confine(self, proc: subprocess.Popen[bytes], spec: WorkerSpec, info_r: int,
                 limits: dict[str, tuple[int, int]], cgroup: WorkerCgroup | None,
                 outer_r: int, outer_block_w: int, block_w: int) -> int | None:
        """Confine the held sandbox, then let it go on; the sandbox init's pid.

        Two holds: bwrap #1's child (still root, like the host) gets the
        rlimits, everything below inherits them; bwrap #2's child, the PID
        namespace's init, joins the cgroup before it forks the worker.  By
        the time the init is held the cgroup attach's grace period has run
        out on the prewarm thread.  On any failure the sandbox is killed
        *before* a block descriptor closes: bwrap reads end-of-file as "go",
        unconfined.  None (nothing to confine) when bwrap failed before
        forking: the caller reports bwrap's own message.
        """
        child: int | None = None
        init_pid: int | None = None
        try:
            child = _child_pid(outer_r)
            outer_r = -1
            if child is None:
                raise _NotStarted
            apply_rlimits(child, limits)
            os.write(outer_block_w, b"x")
            init_pid = _child_pid(info_r)
            info_r = -1
            if init_pid is None:
                raise _NotStarted
            if cgroup is not None:
                cgroup.add(init_pid)
            os.write(block_w, b"x")
            return init_pid
        except BaseException as exc:
            _procs.kill_all([pid for pid in (init_pid, child) if pid is not None])
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if isinstance(exc, _NotStarted):
                return None
            if isinstance(exc, OSError):
                raise SandboxUnavailable(
                    f"the sandbox could not be confined before it started: {exc}; "
                    + (_tail(spec.stderr_path) or "no message from bubblewrap"),
                    hint="check that the host may write the worker cgroup and set "
                         "rlimits (it runs as root here)") from exc
            raise
        finally:
            for fd in (outer_r, info_r, outer_block_w, block_w):
                if fd >= 0:
                    os.close(fd)


class _NotStarted(Exception):
    """bwrap reported no child: it failed before forking (its stderr says why)."""


def _child_pid(fd: int, timeout: float = 30.0) -> int | None:
    """The ``child-pid`` bubblewrap writes on its ``--info-fd`` (closes ``fd``)."""
    raw = b""
    deadline = time.monotonic() + timeout
    try:
        while len(raw) < 65536:  # until end of file (bwrap closes it after writing)
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                break
            raw += chunk
    except OSError:
        pass
    finally:
        os.close(fd)
    try:
        return int(json.loads(raw)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def protections_from_probe(found: dict[str, Any], setup: StrictSetup,
                           limits: Limits) -> list[Protection]:
    """Turn the measured facts of the probe worker into report lines (``limits``: the probe's)."""
    out = ReportLines()
    add = out.add
    add("user-namespace", found.get("userns"), "own user namespace, nested ones disabled",
        "no user namespace")
    add("unprivileged-uid", found.get("uid") not in (None, 0),
        f"worker runs as uid {found.get('uid')} (host uid "
        f"{NOBODY if setup.setpriv else os.getuid()})", "worker runs as root")
    add("pid-namespace", found.get("pid") == 2, "own PID namespace, worker is pid 2",
        f"worker pid {found.get('pid')}: no PID namespace")
    add("network-namespace", found.get("interfaces") == ["lo"],
        "no network: only a private loopback", f"interfaces {found.get('interfaces')}")
    add("mount-namespace", found.get("home_hidden"),
        "only the OS, the plugin env, the workspace and a private /tmp are visible",
        "host files are visible")
    add("ipc-uts-cgroup-namespaces", found.get("hostname") == "vcs-sandbox",
        "own IPC, UTS and cgroup namespaces", "shared with the host")
    add("no-new-privileges", found.get("no_new_privs"), "NoNewPrivs=1", "NoNewPrivs=0")
    out.lines.append(capabilities_dropped(found))
    add("new-session", found.get("own_session"), "own session: no TIOCSTI into the host tty",
        "shares the host session")
    add("scrubbed-environment", found.get("env_clean"),
        "only the variables the host sets, also in /proc/1/environ",
        f"host variables leak: {found.get('env_extra')}")
    out.lines.append(host_environ(found, found.get("host_environ_own")))
    add("process-limit", found.get("fork_limited"),
        f"forks stop at the limit ({found.get('fork_detail')})",
        f"fork limit not enforced ({found.get('fork_detail')})")
    add("memory-limit", found.get("memory_limited"), str(found.get("memory_detail")),
        f"memory limit not enforced ({found.get('memory_detail')})")
    out.lines += limit_lines(found, limits)
    shm_private = (found.get("shm_write") == "written" and not found.get("shm_leaked")
                   and not str(found.get("shm_read", "read")).startswith("read"))
    add("private-tmp", found.get("tmp_private") and shm_private,
        "sized tmpfs /tmp and /dev/shm (a file the probe wrote to /dev/shm did not appear in "
        "the host's)",
        f"host /tmp visible: {not found.get('tmp_private')}; /dev/shm write: "
        f"{found.get('shm_write')}, seen by the host: {bool(found.get('shm_leaked'))}")
    add("cgroup", setup.cgroup is not None, f"cgroup {setup.cgroup} per worker (memory, pids)",
        "no cgroup: rlimits only, leftovers tracked by PID namespace")
    out.lines += [process_cleanup(found, "the PID namespace dies with its init"),
                  parent_death(found)]
    return out.lines
