"""What the sandbox really enforces on this machine, measured once per process.

Why measure: the same flags give different protection on different kernels
and as different users (``RLIMIT_NPROC`` is ignored for root; cgroup v2 may
lack the memory controller; Ubuntu may block user namespaces).  The report
(SPEC 6) must say what *holds*, so a probe worker is started through the
real launcher, tries the walls from inside (a fork limit, an allocation
past the memory limit, descriptors until ``EMFILE``, a write past the file
size limit, the network, the host's files, the host's ``/dev/shm`` and
``/proc/<host pid>/environ``, its capabilities and parent-death signal) and
says what it saw; the host then checks what only it can see (did the
probe's ``/dev/shm`` file reach the host's, did its ``setsid`` daemon
outlive it).  The CPU limit is read back, not spun: burning a CPU second at
every start-up would cost more than the whole probe (about 0.2 s per level here).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

from .._seams import Limits, PluginEnv, Protection, SandboxReport, WorkerSpec
from ..errors import SandboxUnavailable
from . import _cgroups

#: Environment of the probe worker (what a host would set).
_PROBE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
              "TMPDIR": "/tmp", "VCS_PROBE": "1"}
#: What may be in a worker's environment: the host's variables, ``PWD`` (the
#: launch chain's cwd), ``LC_CTYPE`` (Python's locale coercion) and
#: ``MALLOC_ARENA_MAX`` (set with ``RLIMIT_AS``).
_EXPECTED_ENV = [*sorted(_PROBE_ENV), "MALLOC_ARENA_MAX", "PWD", "LC_CTYPE"]
_PROBE_LIMITS = Limits(memory_mb=128, cpu_seconds=10, timeout_seconds=20.0, max_processes=8,
                       max_file_size_mb=4, max_open_files=64, max_written_mb=16)

_PROBE_SCRIPT = r"""
import errno, json, os, resource, socket, sys, zlib
fd = int(sys.argv[1]); c = json.loads(sys.argv[2])
expected = set(c["env"]); hidden = c["hidden"]
r = {"uid": os.getuid(), "pid": os.getpid()}
r["userns"] = os.readlink("/proc/self/ns/user") != c["userns"]
try:
    r["interfaces"] = sorted(n for _, n in socket.if_nameindex())
except OSError as e:
    r["interfaces"] = str(e)
def readable(p):
    try:
        os.listdir(p) if os.path.isdir(p) else open(p, "rb").close()
        return True
    except OSError:
        return False
def why(e):
    return errno.errorcode.get(e.errno, str(e.errno)) + " " + (e.strerror or "")
r["home_hidden"] = not any(readable(p) for p in hidden)
r["hostname"] = socket.gethostname()
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
r["no_new_privs"] = st.get("NoNewPrivs", "0").strip() == "1"
r["caps"] = {k: int(st.get(k, "-1").strip(), 16)
             for k in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
r["own_session"] = os.getsid(0) != 0
init_keys = set()
for p in sorted({1, os.getppid()}):
    try:
        env = open("/proc/%d/environ" % p, "rb").read().split(b"\0")
        keys = {e.split(b"=", 1)[0].decode() for e in env if e}
        init_keys |= keys
        r["launcher_environ"] = "readable, " + ("clean" if keys <= expected else "leaks")
    except OSError as e:
        r.setdefault("launcher_environ", "unreadable: " + why(e))
r["env_clean"] = set(os.environ) <= expected and init_keys <= expected
r["env_extra"] = sorted((set(os.environ) | init_keys) - expected)[:8]
try:
    with open("/proc/%d/environ" % c["host_pid"], "rb") as f:
        data = f.read()
    r["host_environ"] = [len(data), zlib.crc32(data)]
except OSError as e:
    r["host_environ"] = why(e)
try:
    with open("/dev/shm/" + c["shm_marker"], "rb") as f:
        r["shm_read"] = "read " + f.read().decode(errors="replace")
except OSError as e:
    r["shm_read"] = why(e)
try:
    with open("/dev/shm/" + c["shm_name"], "x") as f:
        f.write("probe")
    r["shm_write"] = "written"
except OSError as e:
    r["shm_write"] = why(e)
r["tmp_private"] = not readable(hidden[0])
r["rlimits"] = {n: list(resource.getrlimit(getattr(resource, "RLIMIT_" + n.upper())))
                for n in ("cpu", "fsize", "nofile", "nproc", "as")}
fds = []
try:
    while len(fds) < c["nofile"] + 16:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    r["nofile_stop"] = None
except OSError as e:
    r["nofile_stop"] = [len(fds), max(fds, default=-1) + 1, errno.errorcode.get(e.errno, "?")]
for f in fds:
    os.close(f)
big = os.path.join(c["tmp"], "vcs-probe-fsize")
try:
    f = os.open(big, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(f, b"x", c["fsize"] - 1)
        os.pwrite(f, b"x", c["fsize"])
        r["fsize_stop"] = "a byte past the limit was written"
    except OSError as e:
        r["fsize_stop"] = errno.errorcode.get(e.errno, str(e))
    finally:
        os.close(f)
        os.unlink(big)
except OSError as e:
    r["fsize_stop"] = "could not try: " + why(e)
import ctypes
v = ctypes.c_int(-1)
ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0)
r["pdeathsig"] = v.value
# First the daemon (before the fork limit is used up by the loop below).
try:
    pid = os.fork()
    if pid == 0:
        try:  # whatever fails here, this child never runs the rest of the probe
            os.setsid()
            if os.fork() == 0:
                os.close(fd)
                import time
                time.sleep(20)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
except OSError as e:
    r["daemon_error"] = why(e)
os.close(c["daemon_fd"])
kids, rd, wr = [], *os.pipe()
err = ""
for _ in range(40):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.strerror; break
    if pid == 0:
        os.close(wr); os.read(rd, 1); os._exit(0)
    kids.append(pid)
os.close(wr)
for k in kids:
    os.waitpid(k, 0)
os.close(rd)
r["fork_limited"] = len(kids) < 40
r["fork_detail"] = f"{len(kids)} forks then {err or 'no refusal'}"
os.write(fd, json.dumps(r).encode() + b"\n")
chunks = []
try:
    for _ in range(64):
        chunks.append(bytearray(8 << 20))
    os.write(fd, b'{"memory": "allocated 512 MiB past a 128 MiB limit"}\n')
except MemoryError:
    os.write(fd, b'{"memory": "MemoryError"}\n')
"""


def userns_hint() -> str:
    """How to allow unprivileged user namespaces (the usual reason bwrap fails)."""
    return ("allow unprivileged user namespaces: on Ubuntu 24.04 "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or install an "
            "AppArmor profile for /usr/bin/bwrap with the `userns,` rule); on older Debian "
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1`; everywhere "
            "`user.max_user_namespaces` must be > 0; in Docker run with "
            "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`")


@functools.cache
def strict_setup() -> Any:
    """The :class:`StrictSetup` for this machine, or ``SandboxUnavailable`` saying why."""
    from ._bwrap import StrictSetup

    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable("the strict sandbox needs Linux (bubblewrap and namespaces)",
                                 hint="use --sandbox basic or off on this OS")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed",
                                 hint="sudo apt-get install bubblewrap (dnf install bubblewrap)")
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SandboxUnavailable("prlimit (util-linux) is not installed",
                                 hint="sudo apt-get install util-linux")
    setpriv = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable(
                "running as root, the sandbox drops to an unprivileged uid with setpriv, "
                "which is not installed", hint="sudo apt-get install util-linux")
    check = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
             "--", "/bin/true"]
    if setpriv:
        check = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", *check]
    try:
        done = subprocess.run(check, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"}, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap could not be tried here: {exc}",
                                 hint=userns_hint()) from None
    if done.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap cannot create namespaces here: " + done.stderr.strip(),
            hint=userns_hint())
    cgroup, _why = _cgroups.available()
    return StrictSetup(bwrap=bwrap, prlimit=prlimit, setpriv=setpriv, cgroup=cgroup)


def _own_environ() -> tuple[int, int] | None:
    """(length, crc32) of this process's environ block, as another process would read it."""
    try:
        with open(f"/proc/{os.getpid()}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return len(data), zlib.crc32(data)


def _plant_shm_marker() -> str:
    """A host file in ``/dev/shm`` the probe must not read (its name; "" when impossible)."""
    name = f"vcs-probe-host-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(f"/dev/shm/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return ""
    with os.fdopen(fd, "w") as handle:
        handle.write("host shared memory")
    return name


def _read_lines(fd: int, deadline: float) -> dict[str, Any]:
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    found: dict[str, Any] = {}
    for line in buf.splitlines():
        try:
            found.update(json.loads(line))
        except ValueError:
            continue
    return found


def _daemon_outcome(fd: int, found: dict[str, Any]) -> str:
    """Whether the probe's setsid daemon (the last holder of ``fd``) died with the worker."""
    if "daemon_error" in found:
        return f"could not be started ({found['daemon_error']})"
    if "fork_detail" not in found:
        return "not started (the probe stopped early)"
    ready, _, _ = select.select([fd], [], [], 2.0)
    if ready and os.read(fd, 1) == b"":
        return "gone"
    return "still running 2 s after the worker ended"


def run_probe_worker(launcher: Any, timeout: float = 30.0) -> tuple[dict[str, Any], Any]:
    """Start the probe worker through ``launcher``; its findings and the worker.

    Besides what the probe reports from inside, the host measures what only
    it can see: whether the file the probe wrote to ``/dev/shm`` appeared in
    the host's, whether the probe read the host's own environ block, and
    whether the probe's ``setsid`` daemon outlived the worker.
    """
    scratch = Path(tempfile.mkdtemp(prefix="vcs-probe-"))
    temp_dir = scratch / "tmp"
    temp_dir.mkdir()
    marker = scratch / f"vcs-probe-marker-{os.getpid()}"
    marker.write_text("host file")
    hidden = [str(marker)]
    python = os.path.realpath(sys.executable)
    with contextlib.suppress(OSError):
        # Entries of the host home not on the way to the interpreter must be invisible.
        hidden += [str(p) for p in sorted(Path.home().iterdir())[:8]
                   if not python.startswith(str(p) + "/")]
    shm_name = f"vcs-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    shm_marker = _plant_shm_marker()
    read_fd, write_fd = os.pipe()
    daemon_r, daemon_w = os.pipe()
    config = {"env": _EXPECTED_ENV, "hidden": hidden, "userns": os.readlink("/proc/self/ns/user"),
              "host_pid": os.getpid(), "shm_name": shm_name,
              "shm_marker": shm_marker or "vcs-probe-no-marker", "tmp": str(temp_dir),
              "fsize": _PROBE_LIMITS.max_file_size_mb * 1024 * 1024,
              "nofile": _PROBE_LIMITS.max_open_files, "daemon_fd": daemon_w}
    spec = WorkerSpec(
        argv=(python, "-I", "-c", _PROBE_SCRIPT, str(write_fd), json.dumps(config)),
        env=dict(_PROBE_ENV), pass_fds=(write_fd, daemon_w),
        plugin_env=PluginEnv(python=Path(python),
                             readonly_paths=(Path(os.path.realpath(sys.base_prefix)),)),
        limits=_PROBE_LIMITS, workspace=None, temp_dir=temp_dir,
        stdout_path=scratch / "stdout", stderr_path=scratch / "stderr")
    try:
        try:
            worker = launcher.start(spec)
        finally:
            os.close(write_fd)
            os.close(daemon_w)
        found = _read_lines(read_fd, time.monotonic() + timeout)
        if worker.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(5)
        found["limit_hit"] = worker.limit_hit()
        found["daemon"] = _daemon_outcome(daemon_r, found)
        found["host_environ_own"] = _own_environ()
        found["shm_leaked"] = os.path.lexists(f"/dev/shm/{shm_name}")
        if not found.get("fork_detail") and (scratch / "stderr").exists():
            found["error"] = (scratch / "stderr").read_text(errors="replace")[-500:]
        worker.close()
        return found, worker
    finally:
        os.close(read_fd)
        os.close(daemon_r)
        for name in (shm_name, shm_marker):
            if name:
                with contextlib.suppress(OSError):
                    os.unlink(f"/dev/shm/{name}")
        shutil.rmtree(scratch, ignore_errors=True)


def _memory_verdict(found: dict[str, Any], mechanism: str) -> tuple[bool, str]:
    memory = found.get("memory")
    where = f"probe limit {_PROBE_LIMITS.memory_mb} MiB, {mechanism}"
    if found.get("limit_hit") == "memory":
        return True, f"{where}: an allocation past the limit was OOM-killed"
    if memory == "MemoryError":
        return True, f"{where}: an allocation past the limit raised MemoryError"
    return False, f"{where}: {memory or 'probe gave no answer'}"


def _judge_common(found: dict[str, Any], mechanism: str) -> None:
    """Verdicts both levels share, added to ``found`` for the report builders."""
    found["memory_limited"], found["memory_detail"] = _memory_verdict(found, mechanism)
    found["fork_detail"] = (f"probe allowance {_PROBE_LIMITS.max_processes} processes: "
                            f"{found.get('fork_detail', 'probe gave no answer')}")


def _measure(launcher: Any, level: str) -> dict[str, Any]:
    """The probe worker's findings; a probe that cannot even start is this level missing.

    Why: ``PluginHost()`` measures the sandbox when it is made; a temp dir it
    cannot create, a cgroup it may not join or a probe that hangs must say
    which level is missing and why (``auto`` then falls back), not raise.
    """
    try:
        found, _ = run_probe_worker(launcher)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"the {level} sandbox's start-up probe could not run: {exc}",
                                 hint="see the error; --vcs-sandbox=off runs unconfined, "
                                      "for debugging only") from None
    return found


@functools.cache
def strict_report() -> SandboxReport:
    """The measured report of the strict level (runs one probe worker, once)."""
    from ._bwrap import StrictLauncher, protections_from_probe

    setup = strict_setup()
    bootstrap = StrictLauncher(setup, SandboxReport(level="strict"))
    found = _measure(bootstrap, "strict")
    mechanism = f"cgroup {setup.cgroup} memory limit" if setup.cgroup else "RLIMIT_AS"
    _judge_common(found, mechanism)
    if setup.cgroup:
        found["fork_detail"] = f"{found.get('fork_detail')}; cgroup pids.max"
    protections = protections_from_probe(found, setup, _PROBE_LIMITS)
    if "error" in found:
        protections.append(Protection("probe", False, str(found["error"])))
    return SandboxReport(level="strict", protections=tuple(protections),
                         missing=tuple(p.name for p in protections if not p.enabled))


@functools.cache
def basic_launcher() -> Any:
    """The basic launcher for this machine, with its measured report."""
    from . import _landlock
    from ._basic import BasicLauncher, basic_protections

    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable("the basic sandbox needs Linux (rlimits, /proc, Landlock)",
                                 hint="use --sandbox off on this OS")
    cgroup, _why = _cgroups.available()
    launcher = BasicLauncher(cgroup=cgroup, landlock_abi=_landlock.abi_version())
    found = _measure(launcher, "basic")
    mechanism = f"cgroup {cgroup} memory limit" if cgroup else "RLIMIT_AS"
    _judge_common(found, mechanism)
    protections = basic_protections(found, launcher, _PROBE_LIMITS)
    if "error" in found:
        protections.append(Protection("probe", False, str(found["error"])))
    launcher._report = SandboxReport(
        level="basic", protections=tuple(protections),
        missing=tuple(p.name for p in protections if not p.enabled))
    return launcher
