"""A raw harness: run a small Python script as a sandboxed "worker".

The script talks to the test through a pipe in ``pass_fds`` (as the real
worker does), so each protection is checked from inside, exactly as a
plugin would meet it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._seams import Launcher, Limits, PluginEnv, WorkerProcess, WorkerSpec
from vcs_conformance.errors import SandboxUnavailable

PYTHON = os.path.realpath(sys.executable)
HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
ALL_ATTACKS = sorted(p.name for p in HOSTILE.iterdir() if (p / "pyproject.toml").is_file())
#: What every canary and host secret holds; no plugin output may contain it.
SECRET = "vcs-hostile-canary-" + uuid.uuid4().hex
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent", "TMPDIR": "/tmp"}

_TEMPLATE = """\
import json, os, sys
_out, _in = int(sys.argv[1]), int(sys.argv[2])
result = {{}}
def send():
    os.write(_out, (json.dumps(result) + "\\n").encode())
{body}
send()
os.read(_in, 1)
"""


def require(level: str) -> Launcher:
    """The launcher for ``level``; skipped where unavailable, unless CI requires it."""
    from vcs_conformance.sandbox import make_launcher

    try:
        return make_launcher(level)
    except SandboxUnavailable as exc:
        if os.environ.get("VCS_REQUIRE_STRICT") and level == "strict":
            raise
        pytest.skip(f"sandbox {level} unavailable: {exc.message}")


@dataclass
class Run:
    worker: WorkerProcess
    results: list[dict[str, Any]] = field(default_factory=list)
    release_fd: int = -1
    stdout: Path | None = None
    stderr: Path | None = None

    def release(self) -> None:
        if self.release_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.release_fd, b"x")
            os.close(self.release_fd)
            self.release_fd = -1


def make_workspace(root: Path) -> Path:
    ws = root / "workspace"
    for sub in ("datasets/ds/wavs", "cache", "models", "outputs"):
        (ws / sub).mkdir(parents=True, exist_ok=True)
    (ws / "datasets/ds/metadata.csv").write_text("a|hello\n")
    return ws


def start(launcher: Launcher, tmp: Path, body: str, *, limits: Limits | None = None,
          network: bool = False, env: dict[str, str] | None = None,
          workspace: Path | None = None, extra_ro: tuple[Path, ...] = (),
          timeout: float = 60.0, python: str = PYTHON) -> Run:
    script = tmp / "worker_script.py"
    script.write_text(_TEMPLATE.format(body=textwrap.indent(textwrap.dedent(body), "")))
    temp_dir = tmp / "worker-tmp"
    temp_dir.mkdir(exist_ok=True)
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe()
    spec = WorkerSpec(
        argv=(python, "-I", str(script), str(out_w), str(in_r)),
        env=dict(env or ENV), pass_fds=(out_w, in_r),
        plugin_env=PluginEnv(python=Path(python),
                             readonly_paths=(Path(os.path.realpath(sys.base_prefix)), *extra_ro)),
        limits=limits or Limits(), workspace=workspace if workspace else make_workspace(tmp),
        temp_dir=temp_dir, stdout_path=tmp / "stdout", stderr_path=tmp / "stderr",
        network=network, worker_script=script)
    try:
        worker = launcher.start(spec)
    finally:
        os.close(out_w)
        os.close(in_r)
    run = Run(worker=worker, release_fd=in_w, stdout=tmp / "stdout", stderr=tmp / "stderr")
    run.results.extend(_read(out_r, worker, timeout=timeout))
    os.close(out_r)
    return run


def _read(fd: int, worker: WorkerProcess, timeout: float) -> list[dict[str, Any]]:
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            buf += chunk
            if buf.endswith(b"\n"):
                break
        elif worker.poll() is not None:
            break
    return [json.loads(line) for line in buf.splitlines() if line.strip()]


def one(launcher: Launcher, tmp: Path, body: str, **kw: Any) -> dict[str, Any]:
    """Run ``body`` to completion and return its ``result`` (the worker is closed)."""
    run = start(launcher, tmp, body, **kw)
    try:
        assert run.results, f"worker gave no result; stderr: {run.stderr and _text(run.stderr)}"
        return run.results[0]
    finally:
        run.release()
        run.worker.close()


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


class Services:
    """Host services a plugin must not reach: TCP, UDP, a unix and an abstract socket."""

    def __init__(self, tmp: Path) -> None:
        self.hits: list[str] = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = str(tmp / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen(4)
        os.chmod(self.unix_path, 0o777)
        self.abstract_name = "vcs-hostile-" + uuid.uuid4().hex
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen(4)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, args=(s, n), daemon=True)
                         for s, n in ((self.tcp, "tcp"), (self.udp, "udp"),
                                      (self.unix, "unix"), (self.abstract, "abstract"))]
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.settimeout(0.1)
        for thread in self._threads:
            thread.start()

    def _serve(self, sock: socket.socket, name: str) -> None:
        while not self._stop.is_set():
            try:
                if name == "udp":
                    sock.recvfrom(4096)
                else:
                    sock.accept()[0].close()
            except OSError:
                continue
            self.hits.append(name)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(1)
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.close()


def digest(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def hostile_targets(tmp: Path, services: Services) -> Iterator[dict[str, Any]]:
    """What the attacks go for, planted; the canary in the real home is removed after."""
    from vcs_conformance.envs import default_cache_dir

    canary = tmp / "canary.txt"
    canary.write_text(SECRET)
    other = tmp / "other-project"
    (other / "outputs").mkdir(parents=True)
    (other / "outputs" / "keep.wav").write_text("other project's output")
    home_canary = Path.home() / (".vcs-hostile-home-" + uuid.uuid4().hex)
    home_canary.write_text(SECRET)
    # Where "outputs/../../etc/passwd" of a workspace at tmp/<name> lands: a valid WAV.
    (tmp / "etc").mkdir()
    write_wav(tmp / "etc" / "passwd")
    try:
        yield {
            "canary": str(canary), "host_tmp_file": str(tmp / "host-tmp-target"),
            "home": str(Path.home()), "home_canary": home_canary.name,
            "other_project": str(other), "env_cache": str(default_cache_dir()),
            "shm_name": "vcs-hostile-" + uuid.uuid4().hex,
            "tcp_port": services.tcp.getsockname()[1],
            "udp_port": services.udp.getsockname()[1],
            "unix_path": services.unix_path, "abstract_name": services.abstract_name,
            "host_pid": os.getpid(), "suid_binary": "datasets/suid-id",
            "tiocsti_marker": "echo vcs-tiocsti-" + uuid.uuid4().hex,
        }
    finally:
        home_canary.unlink(missing_ok=True)


def write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 4000)


def plant_in_workspace(ws: Path) -> None:
    """A setuid-root copy of ``id`` in ``datasets/`` (read-only inside; no chown there)."""
    target = ws / "datasets" / "suid-id"
    shutil.copy(shutil.which("id") or "/usr/bin/id", target)
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)


def site_dirs(prefix: str | os.PathLike[str]) -> tuple[Path, ...]:
    """``purelib`` and ``platlib`` of the interpreter (or venv) at ``prefix``.

    Computed here, never by running that interpreter: a plugin env's own
    interpreter runs its ``.pth`` files and ``sitecustomize`` at start-up, and
    the test must not be the one to run them unconfined.  (Same Python
    version: every env here is made from this interpreter's base.)
    """
    paths = sysconfig.get_paths(vars={"base": os.fspath(prefix), "platbase": os.fspath(prefix)})
    return tuple(dict.fromkeys(Path(paths[key]) for key in ("purelib", "platlib")))


#: The uid a root host runs sandboxed workers as (``vcs_conformance.sandbox._bwrap.NOBODY``).
NOBODY = 65534


def _stat_fields(pid: int) -> tuple[str, int] | None:
    """(state, ppid) from ``/proc/<pid>/stat``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def sandbox_processes(exclude: frozenset[int] = frozenset()) -> list[tuple[int, str]]:
    """(pid, state) of what this test run's sandboxes left: an independent /proc scan.

    Processes of the sandbox uid that descend from this process or sit in one
    of its per-worker cgroups (``vcs-sandbox-<pid>-N``), and zombies among this
    process's descendants (not reaped: also a leftover).  Other people's
    sandboxes on the machine do not count; nor do ``exclude`` (the sentinels).
    """
    parents: dict[int, int] = {}
    states: dict[int, str] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (found := _stat_fields(int(name))) is not None:
            states[int(name)], parents[int(name)] = found
    mine: set[int] = set()
    frontier = [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in mine]
        mine.update(children)
        frontier += children
    tag = f"vcs-sandbox-{os.getpid()}-"
    out = []
    for pid, state in states.items():
        if pid in exclude:
            continue
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        ours = pid in mine or tag in cgroups
        if ours and (uid == NOBODY or state == "Z"):
            out.append((pid, state))
    return sorted(out)


@contextlib.contextmanager
def secret_fd(path: str) -> Iterator[int]:
    """A descriptor on a secret, inheritable (no O_CLOEXEC), open in the host while it spawns."""
    fd = os.open(path, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        yield fd
    finally:
        os.close(fd)


class OpenWatch:
    """Every open or read of the watched files (inotify), by anyone: the host included.

    The confused-deputy check: a plugin-returned path that leads to a file
    outside the workspace must be refused without the host opening that file.
    """

    _IN_ACCESS, _IN_OPEN = 0x1, 0x20

    def __init__(self, paths: tuple[str, ...]) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, f"inotify_init1: errno {ctypes.get_errno()}"
        for path in paths:
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path),
                                              self._IN_ACCESS | self._IN_OPEN)
            assert wd >= 0, f"inotify_add_watch {path}: errno {ctypes.get_errno()}"

    def events(self) -> int:
        """How many opens and reads happened since the watch began (16-byte events)."""
        count = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return count
            count += len(data) // 16  # names are empty: the watches are on files

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Sentinels:
    """Processes outside every sandbox that no plugin may touch: one of the sandbox
    uid (another user's sandbox, as far as the kernel can tell) and one of the host's."""

    procs: list[subprocess.Popen[bytes]]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def assert_untouched(self) -> None:
        """Both alive, neither traced nor stopped; nor is this (the host) process traced."""
        for proc in self.procs:
            assert proc.poll() is None, f"sentinel {proc.pid} died ({proc.returncode})"
        for pid in (*self.pids, os.getpid()):
            status = Path(f"/proc/{pid}/status").read_text()
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            assert fields["TracerPid"].strip() == "0", f"process {pid} is being traced"
            assert fields["State"][0] in "SR", f"process {pid} is {fields['State']}"


@contextlib.contextmanager
def sentinels() -> Iterator[Sentinels]:
    setpriv = shutil.which("setpriv")
    sleep = shutil.which("sleep") or "/bin/sleep"
    argvs = [[sleep, "300"]]
    if os.getuid() == 0 and setpriv:
        argvs.append([setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                      sleep, "300"])
    procs = [subprocess.Popen(a, stdin=subprocess.DEVNULL, start_new_session=True)
             for a in argvs]
    try:
        time.sleep(0.05)  # setpriv has exec'd sleep
        yield Sentinels(procs)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)


#: File and network attacks: they also run at import time and in ``register``.
PHASED = frozenset({
    "abstract_unix_socket", "dns_lookup", "dotdot_read_escape", "dotdot_write_escape",
    "plant_git_hook", "poison_env_cache", "pth_startup", "read_canary_file",
    "read_env_secret", "read_home", "read_init_environ", "read_proc_environ", "read_shadow",
    "symlink_read_escape", "symlink_write_escape", "tcp_loopback", "udp_loopback",
    "unix_socket", "write_datasets", "write_dev_shm", "write_home", "write_host_tmp",
    "write_other_project", "write_own_venv",
})
#: Attacks whose code runs to the end inside the sandbox, harmlessly: what they
#: read holds nothing of the host's (checked in the loot), what they wrote or
#: sent stayed inside (a private /dev/shm, a private loopback: checked outside).
COMPLETE_HARMLESSLY = frozenset({"read_env_secret", "read_init_environ",
                                 "read_proc_environ", "udp_loopback", "write_dev_shm"})
#: Attacks that ship code run at interpreter start (a ``.pth`` line, ``sitecustomize``):
#: they need a real plugin env, built by the isolated provider, and attack in two more phases.
STARTUP = {"pth_startup": frozenset({"pth", "sitecustomize"})}
#: What the loot of a successful attack holds (each fixture records its success so).
SUCCESS_MARKS = ("root:", "tampered", "attached", "mounted", "chrooted", "unshared",
                 "euid=0", "privilege gained", "injected", "poisoned:", "sibling read",
                 "wrote ", "settings written")


def assert_no_loot(ws: Path, targets: dict[str, Any]) -> None:
    """What the plugin could write holds nothing of the host's, and no success mark."""
    for loot in (ws / "outputs").glob("loot-*.txt"):
        text = loot.read_text(errors="replace")
        assert SECRET not in text, loot.name
        assert "VCS_HOSTILE_SECRET_TOKEN" not in text, loot.name
        assert targets["home_canary"] not in text and targets["canary"] not in text, loot.name
        for mark in SUCCESS_MARKS:
            assert mark not in text, (loot.name, mark, text[:2000])


def phased_in_source(attack: str) -> bool:
    """Whether the fixture itself attacks at import time (the source says so)."""
    source = (HOSTILE / attack / f"hostile_{attack}" / "plugin.py").read_text()
    return '_safe_attack(_targets(), "import")' in source


def attempts(ws: Path, attack: str) -> list[dict[str, str]]:
    """Each phase's evidence that the attack ran, and how it ended."""
    path = ws / "outputs" / f"attempts-{attack}.txt"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_phases_ran(ws: Path, attack: str, *, harmless: bool = False) -> None:
    """A phased attack ran at import, in register and in the call (and at start-up), and
    each run failed (``harmless``: ran to its end inside walls checked from outside)."""
    found = attempts(ws, attack)
    wanted = {"import", "register", "synthesize", *STARTUP.get(attack, ())}
    assert wanted <= {a["phase"] for a in found}, found
    if not harmless:
        assert all(a["outcome"] != "completed" for a in found), found
