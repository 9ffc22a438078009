"""The ``basic`` level's pre-exec launcher (standard library only).

Run by the host as ``<host python> -I -S _basic_launch.py CONFIG -- argv``.
Why a separate process rather than ``preexec_fn``: ``preexec_fn`` runs in a
forked copy of the (threaded) host, and ``.pth`` files in the plugin env run
before any restriction the worker could apply to itself.  This launcher
confines *before* ``exec`` and then stays as a child subreaper: every
process the plugin starts, ``setsid`` daemons included, remains its
descendant, so the host can list and kill them; when the worker ends, the
launcher kills what is left and exits with the worker's status.

Capabilities: a root host whose interpreter an unprivileged uid cannot read
(a pyenv under ``/root``) keeps the worker's uid 0, so the launcher empties
the capability bounding set (while it still holds ``CAP_SETPCAP``, i.e.
before any uid change), clears the ambient set, sets ``no_new_privs`` and
clears the effective, permitted and inheritable sets with ``capset``: a
uid-0 worker without capabilities can neither override file permissions
nor read ``/proc/<pid>/environ`` of the host (the kernel requires the
reader's permitted set to cover the target's, or ``CAP_SYS_PTRACE``).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import signal
import struct
import sys
import time

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
_CAP_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
_LIMITS = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
           "as": resource.RLIMIT_AS, "core": resource.RLIMIT_CORE}


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _children_files(pid: int) -> list[int] | None:
    """Children of ``pid`` from ``/proc/<pid>/task/*/children`` (None: the kernel has no
    such files, CONFIG_PROC_CHILDREN).  A task that ends while it is read is skipped."""
    if not _HAS_CHILDREN_FILES:
        return None
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                kids += [int(k) for k in handle.read().split()]
        except OSError:
            continue
    return kids


def _children_of(root: int) -> list[int]:
    """Every descendant of ``root``.

    Why two ways: walking ``/proc/<pid>/task/*/children`` costs a few reads
    per descendant, scanning every ``/proc/<pid>/stat`` costs one read per
    process on the machine (many ms on a busy CI host, after every worker).
    """
    found, todo = [], [root]
    while todo:
        kids = _children_files(todo.pop())
        if kids is None:
            return _children_by_scan(root)
        found += kids
        todo += kids
    return found


def _children_by_scan(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rfind(b")") + 2:].split()[1])
    found, todo = [], [root]
    while todo:
        current = todo.pop()
        for pid, ppid in parents.items():
            if ppid == current:
                found.append(pid)
                todo.append(pid)
    return found


def _load_landlock(here: str) -> object:
    path = os.path.join(here, "_landlock.py")
    spec = importlib.util.spec_from_file_location("_vcs_landlock", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 63  # every bit: dropping a capability the kernel lacks fails harmlessly


def drop_bounding_set(libc: ctypes.CDLL) -> None:
    """Empty the bounding set and the ambient set (needs ``CAP_SETPCAP``: call before setuid).

    Without ``CAP_SETPCAP`` (a non-root host) the drop fails with EPERM and
    is left to ``no_new_privs``: then no exec can gain a capability anyway.
    """
    for cap in range(_last_cap() + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def clear_capabilities(libc: ctypes.CDLL) -> None:
    """No new privileges, and empty effective, permitted and inheritable sets (always allowed)."""
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    header = ctypes.create_string_buffer(struct.pack("Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)  # 2 x (effective, permitted, inheritable)
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed: the worker would keep capabilities")


def main() -> int:
    config = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    for procs in config["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    landlock = _load_landlock(os.path.dirname(os.path.abspath(__file__)))
    launcher = os.getpid()
    worker = os.fork()
    if worker == 0:
        try:
            for name, (soft, hard) in config["rlimits"].items():
                resource.setrlimit(_LIMITS[name], (soft, hard))
            drop_bounding_set(libc)
            uid = config["uid"]
            if uid is not None and os.getuid() == 0:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            # After the uid change (which clears it): the worker dies with the launcher,
            # which dies with the host; checked against a launcher already gone.
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != launcher:
                os._exit(126)
            found = {"filesystem": False, "tcp": False, "abstract_unix": False, "signals": False}
            if config["landlock"] is not None:
                found = landlock.restrict(  # type: ignore[attr-defined]
                    config["landlock"]["ro"], config["landlock"]["rw"],
                    network=config["network"])
            clear_capabilities(libc)
            if config["landlock"] is not None and not found["filesystem"]:
                raise OSError("Landlock is not available")
            os.chdir(config["cwd"])
            os.execve(argv[0], argv, config["env"])
        except BaseException as exc:  # reported through the worker's stderr
            os.write(2, f"vcs basic launcher: cannot start the worker: {exc}\n".encode())
            os._exit(126)
    for fd in config["pass_fds"]:
        with contextlib.suppress(OSError):
            os.close(fd)  # the host must see EOF when the worker dies
    status = 0
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        if pid == worker:
            status = raw
            break
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # the worker ended: nothing it started may outlive it
        left = _children_of(os.getpid())
        if not left:
            break
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        time.sleep(0.001)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
