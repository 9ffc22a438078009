"""A raw harness: run a small Python script as a sandboxed "worker".

The script talks to the test through a pipe in ``pass_fds`` (as the real
worker does), so each protection is checked from inside, exactly as a
plugin would meet it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._seams import Launcher, Limits, PluginEnv, WorkerProcess, WorkerSpec
from vcs_conformance.errors import SandboxUnavailable

PYTHON = os.path.realpath(sys.executable)
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
