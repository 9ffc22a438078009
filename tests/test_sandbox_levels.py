"""Levels, the fallback and its errors, limit clamping, and the basic level's walls."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from vcs_conformance._seams import Limits, SubprocessLauncher
from vcs_conformance.errors import SandboxUnavailable
from vcs_conformance.sandbox import MAXIMUM_LIMITS, clamp_resources, make_launcher

from ._sandbox_harness import one, require, start

pytestmark = pytest.mark.timeout(120)


def test_unknown_level_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="strict, basic, off, auto"):
        make_launcher("paranoid")


def test_off_is_loud() -> None:
    with pytest.warns(RuntimeWarning, match="UNCONFINED"):
        launcher = make_launcher("off")
    assert isinstance(launcher, SubprocessLauncher)


def test_strict_without_bubblewrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from vcs_conformance.sandbox import _probe

    _probe.strict_setup.cache_clear()
    monkeypatch.setattr(_probe.shutil, "which", lambda name: None)
    try:
        with pytest.raises(SandboxUnavailable) as info:
            make_launcher("strict")
        assert "apt-get install bubblewrap" in (info.value.hint or "")
        with pytest.warns(RuntimeWarning, match="strict' unavailable"):
            fallback = make_launcher("auto")
        assert fallback.level in ("basic", "off")
    finally:
        _probe.strict_setup.cache_clear()


def test_auto_picks_strict_where_it_works() -> None:
    require("strict")
    assert make_launcher("auto").level == "strict"


def test_clamp_resources() -> None:
    limits = clamp_resources({"memory_mb": 10**6, "cpu_seconds": 30, "timeout_seconds": 0.5})
    assert limits.memory_mb == MAXIMUM_LIMITS.memory_mb
    assert limits.cpu_seconds == 30
    assert limits.timeout_seconds == 1.0
    assert clamp_resources(None) == Limits()
    assert clamp_resources({"x-note": "ignored"}) == Limits()
    with pytest.raises(ValueError, match="/resources/memory_mb: expected a positive number"):
        clamp_resources({"memory_mb": "lots"})
    with pytest.raises(ValueError, match="/resources/disk_mb: unknown resource"):
        clamp_resources({"disk_mb": 5})
    with pytest.raises(ValueError, match="/resources/cpu_seconds"):
        clamp_resources({"cpu_seconds": True})


@pytest.fixture(scope="module")
def basic():  # type: ignore[no-untyped-def]
    return require("basic")


def test_basic_report_names_what_is_missing(basic) -> None:  # type: ignore[no-untyped-def]
    report = basic.report()
    assert report.level == "basic"
    assert "network" in report.missing and "pid-namespace" in report.missing


def test_basic_confines_files_and_tcp(basic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary.txt"
    canary.write_text("secret")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = one(basic, tmp_path, f"""
import socket
def can(fn):
    try:
        fn(); return True
    except OSError:
        return False
ws = {str(tmp_path / 'workspace')!r}
result["canary"] = can(lambda: open({str(canary)!r}).read())
result["datasets"] = can(lambda: open(ws + "/datasets/ds/x", "w"))
result["outputs"] = can(lambda: open(ws + "/outputs/x", "w"))
result["tcp"] = can(lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
""")
    finally:
        server.close()
    if "filesystem" in basic.report().missing:
        pytest.skip("no Landlock on this kernel")
    assert result == {"canary": False, "datasets": False, "outputs": True, "tcp": False}


def test_basic_kills_a_setsid_daemon(basic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = start(basic, tmp_path, """
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
os.wait()
time.sleep(0.2)
""")
    try:
        left = run.worker.leftovers()
        assert len(left) == 1
        run.worker.kill()
        assert not os.path.exists(f"/proc/{left[0]}/cmdline") or run.worker.leftovers() == []
    finally:
        run.release()
        run.worker.close()
    assert not (tmp_path / "worker-tmp").exists()


def test_basic_memory_limit(basic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = start(basic, tmp_path, """
send()
try:
    hog = [bytearray(16 << 20) for _ in range(64)]
    result["outcome"] = "allocated"
except MemoryError:
    result["outcome"] = "MemoryError"
send()
""", limits=Limits(memory_mb=128))
    try:
        code = run.worker.wait(60)
        assert run.worker.limit_hit() == "memory" or code == 0
    finally:
        run.release()
        run.worker.close()
    assert os.getpid() > 0


def test_start_time_orders_processes_by_when_they_started() -> None:
    from vcs_conformance.sandbox import _procs

    assert _procs.start_time(os.getppid()) <= _procs.start_time(os.getpid())
    assert _procs.start_time(2**22 + 12345) > _procs.start_time(os.getpid())  # gone: last


def test_basic_leftovers_names_the_worker_by_start_time_not_lowest_pid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a pid wrap the worker can have a higher pid than the daemon it started."""
    from vcs_conformance.sandbox import _basic, _procs

    launcher_pid, worker_pid, daemon_pid = 5000, 4000, 300
    monkeypatch.setattr(_procs, "parent_map",
                        lambda: {launcher_pid: 1, worker_pid: launcher_pid,
                                 daemon_pid: launcher_pid})
    started = {worker_pid: 100, daemon_pid: 200}
    monkeypatch.setattr(_procs, "start_time", lambda pid: started.get(pid, 10**9))
    monkeypatch.setattr(_procs, "alive", lambda pid: True)

    class _Proc:
        pid = launcher_pid

    worker = _basic.BasicWorker(_Proc(), cgroup=None, temp_dir=tmp_path)  # type: ignore[arg-type]
    assert worker.leftovers() == [daemon_pid]
