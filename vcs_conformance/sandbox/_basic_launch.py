"""The ``basic`` level's pre-exec launcher (standard library only).

Run by the host as ``<host python> -I -S _basic_launch.py CONFIG -- argv``.
Why a separate process rather than ``preexec_fn``: ``preexec_fn`` runs in a
forked copy of the (threaded) host, and ``.pth`` files in the plugin env run
before any restriction the worker could apply to itself.  This launcher
confines *before* ``exec`` and then stays as a child subreaper: every
process the plugin starts, ``setsid`` daemons included, remains its
descendant, so the host can list and kill them; when the worker ends, the
launcher kills what is left and exits with the worker's status.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import signal
import sys
import time

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
_LIMITS = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
           "as": resource.RLIMIT_AS, "core": resource.RLIMIT_CORE}


def _children_of(root: int) -> list[int]:
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
    worker = os.fork()
    if worker == 0:
        try:
            for name, (soft, hard) in config["rlimits"].items():
                resource.setrlimit(_LIMITS[name], (soft, hard))
            uid = config["uid"]
            if uid is not None and os.getuid() == 0:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            found = {"filesystem": False, "tcp": False, "abstract_unix": False, "signals": False}
            if config["landlock"] is not None:
                found = landlock.restrict(  # type: ignore[attr-defined]
                    config["landlock"]["ro"], config["landlock"]["rw"],
                    network=config["network"])
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
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
    for _ in range(200):  # the worker ended: nothing it started may outlive it
        left = _children_of(os.getpid())
        if not left:
            break
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
