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
import socket
import sys
import textwrap
import threading
import time
import uuid
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
          timeout: float = 60.0) -> Run:
    script = tmp / "worker_script.py"
    script.write_text(_TEMPLATE.format(body=textwrap.indent(textwrap.dedent(body), "")))
    temp_dir = tmp / "worker-tmp"
    temp_dir.mkdir(exist_ok=True)
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe()
    spec = WorkerSpec(
        argv=(PYTHON, "-I", str(script), str(out_w), str(in_r)),
        env=dict(env or ENV), pass_fds=(out_w, in_r),
        plugin_env=PluginEnv(python=Path(PYTHON),
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


def hostile_targets(tmp: Path, services: Services) -> dict[str, Any]:
    canary = tmp / "canary.txt"
    canary.write_text(SECRET)
    other = tmp / "other-project"
    (other / "outputs").mkdir(parents=True)
    (other / "outputs" / "keep.wav").write_text("other project's output")
    return {
        "canary": str(canary), "host_tmp_file": str(tmp / "host-tmp-target"),
        "home": str(Path.home()), "other_project": str(other),
        "env_cache": str(tmp / "env-cache"), "shm_name": "vcs-hostile-" + uuid.uuid4().hex,
        "tcp_port": services.tcp.getsockname()[1], "udp_port": services.udp.getsockname()[1],
        "unix_path": services.unix_path, "abstract_name": services.abstract_name,
        "host_pid": os.getpid(),
    }
