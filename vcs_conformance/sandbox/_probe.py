"""What the sandbox really enforces on this machine, measured once per process.

Why measure: the same flags give different protection on different kernels
and as different users (``RLIMIT_NPROC`` is ignored for root; cgroup v2 may
lack the memory controller; Ubuntu may block user namespaces).  The report
(SPEC 6) must say what *holds*, so a probe worker is started through the
real launcher, tries the walls from inside (a fork limit, an allocation
past the memory limit, the network, the host's files) and says what it saw.
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
import json, os, resource, socket, sys, time
fd = int(sys.argv[1]); expected = set(json.loads(sys.argv[2])); hidden = json.loads(sys.argv[3])
r = {"uid": os.getuid(), "pid": os.getpid()}
r["userns"] = os.readlink("/proc/self/ns/user") != sys.argv[4]
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
r["home_hidden"] = not any(readable(p) for p in hidden)
r["hostname"] = socket.gethostname()
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
r["no_new_privs"] = st.get("NoNewPrivs", "0").strip() == "1"
r["cap_eff"] = int(st.get("CapEff", "1").strip(), 16)
r["own_session"] = os.getsid(0) != 0
try:
    init_env = open("/proc/1/environ", "rb").read().split(b"\0")
    init_keys = {e.split(b"=", 1)[0].decode() for e in init_env if e}
except OSError:
    init_keys = set()
r["env_clean"] = set(os.environ) <= expected and init_keys <= expected
inf = resource.RLIM_INFINITY
r["cpu_rlimit"] = resource.getrlimit(resource.RLIMIT_CPU)[0] != inf
r["fsize_rlimit"] = resource.getrlimit(resource.RLIMIT_FSIZE)[0] != inf
r["nofile_rlimit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= 4096
r["tmp_private"] = not readable(hidden[0])
r["shm_private"] = os.listdir("/dev/shm") == []
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
    done = subprocess.run(check, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          timeout=30, check=False)
    if done.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap cannot create namespaces here: " + done.stderr.strip(),
            hint=userns_hint())
    cgroup, _why = _cgroups.available()
    return StrictSetup(bwrap=bwrap, prlimit=prlimit, setpriv=setpriv, cgroup=cgroup)


def run_probe_worker(launcher: Any, timeout: float = 30.0) -> tuple[dict[str, Any], Any]:
    """Start the probe worker through ``launcher``; its findings and the worker."""
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
    read_fd, write_fd = os.pipe()
    spec = WorkerSpec(
        argv=(python, "-I", "-c", _PROBE_SCRIPT, str(write_fd), json.dumps(_EXPECTED_ENV),
              json.dumps(hidden), os.readlink("/proc/self/ns/user")),
        env=dict(_PROBE_ENV), pass_fds=(write_fd,),
        plugin_env=PluginEnv(python=Path(python),
                             readonly_paths=(Path(os.path.realpath(sys.base_prefix)),)),
        limits=_PROBE_LIMITS, workspace=None, temp_dir=temp_dir,
        stdout_path=scratch / "stdout", stderr_path=scratch / "stderr")
    found: dict[str, Any] = {}
    try:
        try:
            worker = launcher.start(spec)
        finally:
            os.close(write_fd)
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            buf += chunk
        for line in buf.splitlines():
            try:
                found.update(json.loads(line))
            except ValueError:
                continue
        if worker.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(5)
        found["limit_hit"] = worker.limit_hit()
        if not found and (scratch / "stderr").exists():
            found["error"] = (scratch / "stderr").read_text(errors="replace")[-500:]
        worker.close()
        return found, worker
    finally:
        os.close(read_fd)
        shutil.rmtree(scratch, ignore_errors=True)


def _memory_verdict(found: dict[str, Any], mechanism: str) -> tuple[bool, str]:
    memory = found.get("memory")
    if found.get("limit_hit") == "memory":
        return True, f"{mechanism}: an allocation past the limit was OOM-killed"
    if memory == "MemoryError":
        return True, f"{mechanism}: an allocation past the limit raised MemoryError"
    return False, f"{mechanism}: {memory or 'probe gave no answer'}"


@functools.cache
def strict_report() -> SandboxReport:
    """The measured report of the strict level (runs one probe worker, once)."""
    from ._bwrap import StrictLauncher, protections_from_probe

    setup = strict_setup()
    bootstrap = StrictLauncher(setup, SandboxReport(level="strict"))
    found, _ = run_probe_worker(bootstrap)
    mechanism = f"cgroup {setup.cgroup} memory limit" if setup.cgroup else "RLIMIT_AS"
    found["memory_limited"], found["memory_detail"] = _memory_verdict(found, mechanism)
    if setup.cgroup:
        found["fork_detail"] = f"{found.get('fork_detail')}; cgroup pids.max"
    protections = protections_from_probe(found, setup)
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
    found, _ = run_probe_worker(launcher)
    mechanism = f"cgroup {cgroup} memory limit" if cgroup else "RLIMIT_AS"
    found["memory_limited"], found["memory_detail"] = _memory_verdict(found, mechanism)
    protections = basic_protections(found, launcher)
    if "error" in found:
        protections.append(Protection("probe", False, str(found["error"])))
    launcher._report = SandboxReport(
        level="basic", protections=tuple(protections),
        missing=tuple(p.name for p in protections if not p.enabled))
    return launcher
