"""The hostile-plugin suite under ``strict``: every attack fails and leaves no trace.

Each fixture under ``tests/fixtures/hostile/`` is a plugin project with one
attack (run at import time, in ``register`` and in ``synthesize`` for the
file and network cases).  Until the reference host drives them, a raw
worker script imports the plugin inside the sandbox, registers it and calls
``synthesize`` with the targets the test planted.  Each test then checks,
from outside: canaries unchanged, no connection reached a host service,
nothing secret in the plugin's loot, the sandbox cleaned up, and a next
worker still answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._seams import Limits

from ._sandbox_harness import one, require, start

pytestmark = [pytest.mark.timeout(120)]

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
ATTACKS = sorted(p.name for p in HOSTILE.iterdir() if (p / "pyproject.toml").is_file())
SECRET = "vcs-hostile-canary-" + uuid.uuid4().hex
LIMITS = Limits(memory_mb=256, cpu_seconds=4, max_processes=16, max_file_size_mb=8,
                max_open_files=64, max_written_mb=64)
#: Attacks that only end when a limit or the call timeout stops them.
_SLOW = {"ignore_sigterm": 3.0, "many_files": 3.0}

_DRIVER = """
import importlib, sys, types
sys.path.insert(0, {project!r})
class Registry:
    __slots__ = ()
    api_version = "1.2"
    core_version = "1.2.0"
    workspace = {workspace!r}
    temp_dir = {temp_dir!r}
    settings = types.MappingProxyType({{"locale": "en"}})
    def __setattr__(self, name, value):
        raise PermissionError("the registry is read-only")
    def __delattr__(self, name):
        raise PermissionError("the registry is read-only")
try:
    module = importlib.import_module({module!r})
    hooks = module.register(Registry())
    out = hooks["synthesize"]({targets!r}, {{}})
    result["outcome"] = "returned"
    result["type"] = type(out).__name__
except BaseException as exc:
    result["outcome"] = type(exc).__name__
"""


class _Services:
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


@pytest.fixture(scope="module")
def strict():  # type: ignore[no-untyped-def]
    return require("strict")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[_Services]:
    svc = _Services(tmp_path)
    yield svc
    svc.close()


def _digest(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _targets(tmp: Path, services: _Services) -> dict[str, Any]:
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


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_fails_and_leaves_no_trace(strict, tmp_path: Path, services: _Services,  # type: ignore[no-untyped-def]
                                          attack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_HOSTILE_SECRET_TOKEN", SECRET)
    targets = _targets(tmp_path, services)
    from ._sandbox_harness import make_workspace

    ws = make_workspace(tmp_path)
    (ws / "cache" / "targets.json").write_text(json.dumps(targets))
    datasets_before = _digest(ws / "datasets")
    other_before = _digest(Path(targets["other_project"]))
    prefix = Path(os.path.realpath(sys.base_prefix))
    project = HOSTILE / attack
    body = _DRIVER.format(project=str(project), workspace=str(ws),
                          temp_dir=str(tmp_path / "worker-tmp"),
                          module=f"hostile_{attack}.plugin", targets=json.dumps(targets))
    run = start(strict, tmp_path, body, limits=LIMITS, workspace=ws,
                extra_ro=(project,), timeout=_SLOW.get(attack, 60.0))
    worker = run.worker
    try:
        if attack == "memory_hog":
            worker.wait(30)
            assert worker.limit_hit() == "memory" or run.results[0]["outcome"] == "returned"
        if attack == "cpu_spin":
            worker.wait(30)
            assert worker.limit_hit() == "cpu"
    finally:
        run.release()
        worker.close()

    # Nothing outside changed.
    assert Path(targets["canary"]).read_text() == SECRET
    assert not Path(targets["host_tmp_file"]).exists()
    assert not (Path.home() / ".vcs-hostile-bashrc").exists()
    assert _digest(Path(targets["other_project"])) == other_before
    assert _digest(ws / "datasets") == datasets_before
    assert not Path(targets["env_cache"]).exists()
    assert not Path("/dev/shm", targets["shm_name"]).exists()
    assert not (prefix / "lib" / "python3.11" / "site-packages" / "zz_evil.pth").exists()
    assert not Path("/tmp/pwned").exists()
    assert services.hits == []
    # Nothing secret got out (the loot the plugin wrote where it may write).
    for loot in (ws / "outputs").glob("loot-*.txt"):
        text = loot.read_text(errors="replace")
        assert SECRET not in text and "root:" not in text and "tampered" not in text
        assert "settings written" not in text and "attached" not in text
    # No process is left, the temp dir is gone, and the host answers the next worker.
    assert worker.leftovers() == []
    assert worker.poll() is not None
    assert not (tmp_path / "worker-tmp").exists()
    nxt = tmp_path / "next"
    nxt.mkdir()
    assert one(strict, nxt, 'result["ok"] = True') == {"ok": True}


def test_the_suite_covers_enough_attacks() -> None:
    assert len(ATTACKS) >= 30
