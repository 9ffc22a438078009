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


_HOG = """
try:
    hog = [bytearray(16 << 20) for _ in range(64)]  # 1 GiB, past a 128 MiB limit
    result["outcome"] = "allocated"
except MemoryError:
    result["outcome"] = "MemoryError"
"""


@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "rlimit-as"])
def test_basic_memory_limit(basic, tmp_path: Path, cgroup: bool) -> None:  # type: ignore[no-untyped-def]
    """The allocation must fail: an OOM kill (cgroup) or MemoryError (RLIMIT_AS), never succeed."""
    from vcs_conformance.sandbox._basic import BasicLauncher

    if cgroup and basic.cgroup is None:
        pytest.skip("no cgroup can be made here")
    launcher = basic if cgroup else BasicLauncher(cgroup=None, landlock_abi=basic.landlock_abi)
    run = start(launcher, tmp_path, _HOG, limits=Limits(memory_mb=128))
    try:
        outcome = run.results[0]["outcome"] if run.results else None
        if outcome is None:  # killed before it could answer: only the cgroup may do that
            run.worker.wait(30)
            assert cgroup and run.worker.limit_hit() == "memory"
        else:
            assert outcome == "MemoryError"
    finally:
        run.release()
        run.worker.close()


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


# --- what the basic level really gives, measured from inside a worker --------------------


def test_basic_worker_holds_no_capabilities(basic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Even when it stays root (interpreter unreachable by nobody), the worker has no caps."""
    result = one(basic, tmp_path, """
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
for key in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd", "NoNewPrivs"):
    result[key] = int(status[key].strip(), 16)
result["uid"] = os.getuid()
try:
    os.setuid(0) if os.getuid() else os.chown(__file__, 12345, -1)
    result["privileged_op"] = "succeeded"
except OSError as e:
    result["privileged_op"] = e.errno
""")
    assert (result["CapEff"], result["CapPrm"], result["CapInh"], result["CapAmb"]) == (0, 0, 0, 0)
    assert result["NoNewPrivs"] == 1
    if os.geteuid() == 0:
        assert result["CapBnd"] == 0
    assert result["privileged_op"] != "succeeded"
    line = {p.name: p for p in basic.report().protections}["capabilities-dropped"]
    assert line.enabled and "CapEff=0" in line.detail


def test_basic_closes_the_host_shm_and_the_host_environ(basic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The worker can neither write nor read the host's /dev/shm, nor read the host's environ."""
    report = {p.name: p for p in basic.report().protections}
    if "filesystem" in basic.report().missing:
        pytest.skip("no Landlock on this kernel")
    name = f"vcs-test-{os.getpid()}-{tmp_path.name}"
    planted = Path(f"/dev/shm/{name}-host")
    planted.write_text("host shared memory")
    try:
        result = one(basic, tmp_path, f"""
def outcome(fn):
    try:
        fn(); return "ok"
    except OSError as e:
        return e.errno
result["write"] = outcome(lambda: open("/dev/shm/{name}", "x").write("plugin"))
result["read"] = outcome(lambda: open({str(planted)!r}).read())
result["list"] = outcome(lambda: os.listdir("/dev/shm"))
result["environ"] = outcome(lambda: open("/proc/{os.getpid()}/environ", "rb").read())
""")
        leaked = Path(f"/dev/shm/{name}").exists()
    finally:
        planted.unlink()
        Path(f"/dev/shm/{name}").unlink(missing_ok=True)
    assert not leaked
    assert "ok" not in result.values(), result
    assert report["host-shm"].enabled and "EACCES" in report["host-shm"].detail
    assert not report["private-shm"].enabled
    assert "no mount namespace" in report["private-shm"].detail
    assert report["host-environ-hidden"].enabled


def test_basic_report_gives_each_limit_as_measured(basic) -> None:  # type: ignore[no-untyped-def]
    lines = {p.name: p for p in basic.report().protections}
    expected = {"cpu-limit": "read back inside: 10 s", "file-size-limit": "failed with EFBIG",
                "open-files-limit": "stopped with EMFILE at descriptor 64",
                "process-limit": "allowance 8 processes", "memory-limit": "128 MiB",
                "process-cleanup": "setsid double-forked daemon", "die-with-parent": "SIGKILL"}
    for name, fragment in expected.items():
        assert lines[name].enabled, (name, lines[name].detail)
        assert fragment in lines[name].detail, (name, lines[name].detail)


def _found(**changes: object) -> dict[str, object]:
    """Probe findings of a sandbox that holds (probe limits: 10 s, 4 MiB, 64 files)."""
    found: dict[str, object] = {
        "caps": {"CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapAmb": 0, "CapBnd": 0},
        "no_new_privs": True, "host_environ": "EACCES Permission denied", "pdeathsig": 9,
        "daemon": "gone", "rlimits": {"cpu": [10, 11], "fsize": [4 << 20, 4 << 20],
                                      "nofile": [64, 64]},
        "fsize_stop": "EFBIG", "nofile_stop": [61, 64, "EMFILE"]}
    found.update(changes)
    return found


def test_measured_verdicts_turn_off_on_what_the_probe_saw() -> None:
    """Each verdict follows the measurement: a leak seen is reported off, with the value."""
    from vcs_conformance.sandbox import _measured
    from vcs_conformance.sandbox._probe import _PROBE_LIMITS

    def names_off(found: dict[str, object], own: tuple[int, int] | None = (10, 99)) -> set[str]:
        lines = [*_measured.limit_lines(found, _PROBE_LIMITS), _measured.parent_death(found),
                 _measured.capabilities_dropped(found), _measured.host_environ(found, own),
                 _measured.process_cleanup(found, "test")]
        return {p.name for p in lines if not p.enabled}

    assert names_off(_found()) == set()
    assert names_off(_found(host_environ=[10, 99])) == {"host-environ-hidden"}
    assert names_off(_found(host_environ=[10, 98])) == set()  # another process's environ
    assert names_off(_found(caps={"CapEff": 0x1fffeffffff, "CapPrm": 0x1fffeffffff,
                                  "CapInh": 0, "CapAmb": 0, "CapBnd": 0x1fffeffffff})) \
        == {"capabilities-dropped"}
    assert names_off(_found(caps={"CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapAmb": 0,
                                  "CapBnd": 0x1fffeffffff}, no_new_privs=False)) \
        == {"capabilities-dropped"}
    assert names_off(_found(fsize_stop="a byte past the limit was written")) \
        == {"file-size-limit"}
    assert names_off(_found(nofile_stop=None)) == {"open-files-limit"}
    assert names_off(_found(nofile_stop=[1000, 1024, "EMFILE"])) == {"open-files-limit"}
    assert names_off(_found(rlimits={"cpu": [-1, -1], "fsize": [4 << 20, 4 << 20],
                                     "nofile": [64, 64]})) == {"cpu-limit"}
    assert names_off(_found(pdeathsig=0)) == {"die-with-parent"}
    assert names_off(_found(daemon="still running 2 s after the worker ended")) \
        == {"process-cleanup"}
    assert names_off({}, own=None) == {"cpu-limit", "file-size-limit", "open-files-limit",
                                       "die-with-parent", "capabilities-dropped",
                                       "host-environ-hidden", "process-cleanup"}


# --- the fallback paths and their errors ----------------------------------------------------


@pytest.fixture
def fresh_probe():  # type: ignore[no-untyped-def]
    """The probe's per-process caches, emptied before and after a test that fakes the machine."""
    from vcs_conformance.sandbox import _probe

    _probe.strict_setup.cache_clear()
    _probe.strict_report.cache_clear()
    yield _probe
    _probe.strict_setup.cache_clear()
    _probe.strict_report.cache_clear()


_USERNS_BLOCKED = "bwrap: setting up uid map: Permission denied"


def test_strict_with_user_namespaces_blocked_names_the_sysctl(
        fresh_probe, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A bwrap that cannot make namespaces (Ubuntu 24.04's AppArmor rule): error and hint."""
    import shutil
    import tempfile

    real_which = shutil.which
    # Reachable by the unprivileged uid a root host drops to before running bwrap.
    fake_dir = Path(tempfile.mkdtemp(prefix="vcs-fake-bwrap-", dir="/tmp"))
    try:
        fake_dir.chmod(0o755)
        fake = fake_dir / "bwrap"
        fake.write_text(f"#!/bin/sh\necho '{_USERNS_BLOCKED}' >&2\nexit 1\n")
        fake.chmod(0o755)
        monkeypatch.setattr(fresh_probe.shutil, "which",
                            lambda name: str(fake) if name == "bwrap" else real_which(name))
        with pytest.raises(SandboxUnavailable) as info:
            make_launcher("strict")
        assert "cannot create namespaces here" in info.value.message
        assert _USERNS_BLOCKED in info.value.message
        hint = info.value.hint or ""
        assert "kernel.apparmor_restrict_unprivileged_userns=0" in hint
        assert "kernel.unprivileged_userns_clone=1" in hint
        with pytest.warns(RuntimeWarning, match="cannot create namespaces"):
            fallback = make_launcher("auto")
        assert fallback.level == "basic"
    finally:
        shutil.rmtree(fake_dir, ignore_errors=True)


def test_strict_that_does_not_hold_stops_with_what_is_missing(
        fresh_probe, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """bwrap runs but the probe sees host pids and interfaces: strict refuses, naming them."""
    require("strict")
    fresh_probe.strict_report.cache_clear()  # require() measured the real one
    real_probe = fresh_probe.run_probe_worker

    def broken_probe(launcher, timeout=30.0):  # type: ignore[no-untyped-def]
        found, worker = real_probe(launcher, timeout)
        return {**found, "pid": 4242, "interfaces": ["eth0", "lo"]}, worker

    monkeypatch.setattr(fresh_probe, "run_probe_worker", broken_probe)
    with pytest.raises(SandboxUnavailable) as info:
        make_launcher("strict")
    message = info.value.message
    assert "the sandbox does not hold here" in message
    assert "pid-namespace: worker pid 4242" in message
    assert "network-namespace: interfaces ['eth0', 'lo']" in message
    assert "user-namespace" not in message  # only what failed is named
    assert "unprivileged_userns" in (info.value.hint or "")
    report = info.value.details["report"]
    assert report["level"] == "strict" and "pid-namespace" in report["missing"]


# --- the memory limit without a cgroup (RLIMIT_AS), through the host ------------------------


def _hog_plugin(root: Path) -> Path:
    """A plugin whose synthesize allocates 1 GiB and does not catch MemoryError."""
    project = root / "hog"
    package = project / "vcs_test_hog"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "vcs-test-hog"\nversion = "0.1.0"\n\n'
        '[project.entry-points."vcs.plugins"]\nvcs-test-hog = "vcs_test_hog.plugin"\n')
    (package / "__init__.py").write_text("")
    (package / "vcs_plugin.yaml").write_text(
        'name: vcs-test-hog\nversion: "0.1.0"\ndescription: allocates past its limit\n'
        'api_version: "1.2"\n')
    (package / "plugin.py").write_text(
        "def register(registry):\n"
        "    return {'synthesize': synthesize}\n\n\n"
        "def synthesize(text, voice_config):\n"
        "    hog = [bytearray(64 << 20) for _ in range(16)]\n"
        "    return {'audio': 'outputs/none.wav', 'sample_rate': 16000, 'duration_s': len(hog)}\n")
    for path in (project, package, *project.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return project


def _without_cgroup(level: str) -> object:
    import dataclasses

    from vcs_conformance._seams import SandboxReport
    from vcs_conformance.sandbox import _probe
    from vcs_conformance.sandbox._basic import BasicLauncher
    from vcs_conformance.sandbox._bwrap import StrictLauncher

    launcher = require(level)
    if level == "basic":
        return BasicLauncher(cgroup=None, landlock_abi=launcher.landlock_abi)  # type: ignore[attr-defined]
    setup = dataclasses.replace(_probe.strict_setup(), cgroup=None)
    return StrictLauncher(setup, SandboxReport(level="strict"))


@pytest.mark.parametrize("level", ["basic", "strict"])
def test_memory_without_a_cgroup_is_a_resource_limit(level: str, tmp_path: Path) -> None:
    """No cgroup: RLIMIT_AS turns the hog's allocation into ResourceLimitExceeded('memory')."""
    from vcs_conformance.errors import ResourceLimitExceeded
    from vcs_conformance.host import PluginHost

    launcher = _without_cgroup(level)
    with PluginHost(workspace=tmp_path / "ws", launcher=launcher,  # type: ignore[arg-type]
                    limits=Limits(memory_mb=128, timeout_seconds=60.0)) as host:
        plugin = host.load(_hog_plugin(tmp_path))
        with pytest.raises(ResourceLimitExceeded) as info:
            plugin.synthesize("hello", {})
        assert info.value.limit == "memory"
        assert "ran out of memory" in info.value.message


# --- the host's default ---------------------------------------------------------------------


def test_plugin_host_defaults_to_the_strongest_sandbox(tmp_path: Path) -> None:
    """No launcher given: the host sandboxes (auto), never silently unconfined."""
    import warnings

    from vcs_conformance.host import PluginHost

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # auto's fallback warning, if any
        expected = make_launcher("auto").level
        with PluginHost(workspace=tmp_path / "ws") as host:
            assert host.launcher.level == expected
            assert host.sandbox_report().level == expected
    assert expected != "off" or os.uname().sysname != "Linux"
