"""Each protection of the strict sandbox holds, seen from inside a worker (SPEC 6).

Runs in CI under ``strict`` (``VCS_REQUIRE_STRICT=1`` turns "unavailable"
into a failure instead of a skip).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from vcs_conformance._seams import Limits

from ._sandbox_harness import ENV, one, require, sandbox_processes, start

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def strict():  # type: ignore[no-untyped-def]
    return require("strict")


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "host-canary.txt"
    path.write_text("host secret file")
    return path


def test_report_says_every_protection_is_on(strict) -> None:  # type: ignore[no-untyped-def]
    report = strict.report()
    assert report.level == "strict"
    off = [(p.name, p.detail) for p in report.protections if not p.enabled]
    assert off == []
    names = {p.name for p in report.protections}
    assert {"user-namespace", "pid-namespace", "network-namespace", "memory-limit",
            "process-limit", "unprivileged-uid", "capabilities-dropped", "host-environ-hidden",
            "die-with-parent", "process-cleanup", "private-tmp"} <= names


def test_report_gives_each_limit_as_measured(strict) -> None:  # type: ignore[no-untyped-def]
    """Not "rlimit set": the value the probe read back or ran into, per limit."""
    details = {p.name: p.detail for p in strict.report().protections}
    assert "RLIMIT_CPU read back inside: 10 s" in details["cpu-limit"]
    assert "failed with EFBIG" in details["file-size-limit"]
    assert "stopped with EMFILE at descriptor 64" in details["open-files-limit"]
    assert "probe limit 128 MiB" in details["memory-limit"]
    assert "allowance 8 processes" in details["process-limit"]
    assert "SIGKILL" in details["die-with-parent"]
    assert "did not appear in the host's" in details["private-tmp"]


def test_host_files_and_secrets_are_invisible(strict, tmp_path: Path, canary: Path,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_TEST_HOST_SECRET", "s3cr3t-token")
    result = one(strict, tmp_path, f"""
def can_read(p):
    try:
        open(p, "rb").read(1); return True
    except OSError:
        return False
result["shadow"] = can_read("/etc/shadow")
result["canary"] = can_read({str(canary)!r})
result["home"] = os.path.exists({str(Path.home() / '.bashrc')!r}) or os.path.exists("/etc/passwd")
result["env"] = dict(os.environ)
result["init_env"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
result["pid"] = os.getpid()
result["uid"] = os.getuid()
result["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
""")
    assert result["shadow"] is False
    assert result["canary"] is False
    assert result["home"] is False
    assert "s3cr3t" not in str(result["env"]) and "s3cr3t" not in result["init_env"]
    assert set(result["env"]) <= {*ENV, "PWD", "LC_CTYPE", "MALLOC_ARENA_MAX"}
    assert result["pid"] == 2 and result["pids"] == [1, 2]
    assert result["uid"] != 0


def test_writes_only_in_the_read_write_areas(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys
    venv = os.path.realpath(sys.base_prefix)
    result = one(strict, tmp_path, f"""
ws = {str(tmp_path / 'workspace')!r}
def can_write(p):
    try:
        with open(p, "w") as f: f.write("x")
        return True
    except OSError:
        return False
result["datasets"] = can_write(ws + "/datasets/ds/evil.csv")
result["metadata"] = can_write(ws + "/datasets/ds/metadata.csv")
result["venv"] = can_write({venv!r} + "/lib/evil.pth")
result["outputs"] = can_write(ws + "/outputs/ok.wav")
result["models"] = can_write(ws + "/models/ok.bin")
result["tmp"] = can_write("/tmp/private.txt")
result["shm"] = can_write("/dev/shm/private")
result["root"] = can_write("/evil")
""")
    assert result == {"datasets": False, "metadata": False, "venv": False, "outputs": True,
                      "models": True, "tmp": True, "shm": True, "root": False}
    ws = tmp_path / "workspace"
    assert (ws / "datasets/ds/metadata.csv").read_text() == "a|hello\n"
    assert (ws / "outputs/ok.wav").read_text() == "x"
    assert not Path("/tmp/private.txt").exists() and not Path("/dev/shm/private").exists()


@pytest.fixture
def tcp_server():  # type: ignore[no-untyped-def]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    hits: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("network", [False, True])
def test_network_only_when_granted(strict, tmp_path: Path, tcp_server, network: bool) -> None:  # type: ignore[no-untyped-def]
    port, hits = tcp_server
    result = one(strict, tmp_path, f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    result["connected"] = True
except OSError as e:
    result["connected"] = False
result["interfaces"] = sorted(n for _, n in socket.if_nameindex())
""", network=network)
    assert result["connected"] is network
    assert bool(hits) is network
    if not network:
        assert result["interfaces"] == ["lo"]


def test_only_the_passed_descriptors_are_inherited(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)
    try:
        result = one(strict, tmp_path, """
result["fds"] = sorted(int(f) for f in os.listdir("/proc/self/fd"))
result["mine"] = sorted({_out, _in})
""")
    finally:
        os.close(leak_r)
        os.close(leak_w)
    # 0-2, the two protocol pipes, and the listdir handle itself (the lowest free number).
    extra = set(result["fds"]) - {0, 1, 2, *result["mine"]}
    assert len(extra) <= 1 and leak_w not in extra


def test_fork_limit_holds(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = one(strict, tmp_path, """
kids = []
err = None
for _ in range(60):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.strerror; break
    if pid == 0:
        import time; time.sleep(2); os._exit(0)
    kids.append(pid)
result["forks"] = len(kids); result["err"] = err
""", limits=Limits(max_processes=6))
    assert result["forks"] <= 6 and result["err"]


def test_memory_limit_is_reported_as_memory(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = start(strict, tmp_path, """
send()
chunks = [bytearray(16 << 20) for _ in range(64)]
result["survived"] = True
""", limits=Limits(memory_mb=128))
    try:
        run.results += []
        code = run.worker.wait(60)
        assert code != 0
        assert run.worker.limit_hit() == "memory"
    finally:
        run.release()
        run.worker.close()


def test_cpu_limit_stops_a_spin(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = start(strict, tmp_path, """
send()
while True:
    pass
""", limits=Limits(cpu_seconds=1))
    try:
        assert run.worker.wait(30) == -24
        assert run.worker.limit_hit() == "cpu"
    finally:
        run.release()
        run.worker.close()


def test_file_size_and_open_files_limits(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = one(strict, tmp_path, f"""
import errno
try:
    with open({str(tmp_path / 'workspace/outputs/big')!r}, "wb") as f:
        f.write(b"x" * (3 << 20))
    result["big"] = "written"
except OSError as e:
    result["big"] = errno.errorcode[e.errno]
files = []
try:
    for _ in range(200):
        files.append(open("/dev/null"))
    result["nofile"] = "unlimited"
except OSError as e:
    result["nofile"] = errno.errorcode[e.errno]
""", limits=Limits(max_file_size_mb=1, max_open_files=40))
    assert result == {"big": "EFBIG", "nofile": "EMFILE"}
    assert (tmp_path / "workspace/outputs/big").stat().st_size <= 1 << 20


def test_daemon_is_a_leftover_and_kill_cleans_everything(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = start(strict, tmp_path, """
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
os.wait()
time.sleep(0.2)
""")
    worker = run.worker
    try:
        assert run.results == [{}]
        left = worker.leftovers()
        assert len(left) == 1
        worker.kill()
        assert worker.poll() is not None
        assert not Path(f"/proc/{left[0]}").exists()
    finally:
        run.release()
        worker.close()
    # Judged from outside, not by the worker's own bookkeeping: nothing of the sandbox
    # uid below this process or in its cgroups, no zombie.
    assert sandbox_processes() == []
    assert not (tmp_path / "worker-tmp").exists()


def test_a_worker_started_from_a_short_lived_thread_survives_it(strict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    holder: list[object] = []
    thread = threading.Thread(target=lambda: holder.append(start(strict, tmp_path, "")))
    thread.start()
    thread.join(60)
    run = holder[0]
    time.sleep(0.3)  # --die-with-parent would fire here if bound to that thread
    try:
        assert run.worker.poll() is None  # type: ignore[attr-defined]
    finally:
        run.release()  # type: ignore[attr-defined]
        run.worker.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("refused", ["rlimits", "cgroup"])
def test_a_worker_that_cannot_be_confined_never_runs(strict, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     refused: str) -> None:
    """If a held process cannot be confined, the start fails clearly and nothing is left.

    Two holds: bwrap #1's child for the rlimits, the sandbox's init (held by
    bwrap #2) for the cgroup.  bwrap's --block-fd reads end-of-file as "go":
    the launcher kills the sandbox before the descriptor closes.
    """
    from vcs_conformance.errors import SandboxUnavailable
    from vcs_conformance.sandbox import _bwrap
    from vcs_conformance.sandbox._cgroups import WorkerCgroup

    if strict.setup.setpriv is None:
        pytest.skip("only a root host holds bwrap's child while it confines it")

    def refuse(*args: object) -> None:
        raise OSError(13, "refused on purpose")

    if refused == "cgroup":
        if strict.setup.cgroup is None:
            pytest.skip("no cgroup on this host")
        monkeypatch.setattr(WorkerCgroup, "add", refuse)
    else:
        monkeypatch.setattr(_bwrap, "apply_rlimits", refuse)
    from vcs_conformance.sandbox import _procs

    with pytest.raises(SandboxUnavailable, match="could not be confined"):
        start(strict, tmp_path, 'open("outputs/ran", "w").close()', timeout=10)
    assert not (tmp_path / "workspace" / "outputs" / "ran").exists()
    left = [p for p in _procs.descendants(os.getpid())
            if "bwrap" in Path(f"/proc/{p}/comm").read_text(errors="replace")]
    assert left == []


def test_a_cgroup_name_already_taken_is_skipped_not_removed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A group named like ours (a dead process with our pid left it, or a host in another
    PID namespace owns it) is left alone; the worker takes the next name."""
    import itertools

    from vcs_conformance.sandbox import _cgroups

    hierarchies = _cgroups._find("v1")
    if hierarchies is None:
        pytest.skip("no cgroup v1 memory+pids hierarchy here")
    monkeypatch.setattr(_cgroups, "_COUNTER", itertools.count(900_000))
    taken = [h.parent() / f"vcs-sandbox-{os.getpid()}-900000" for h in hierarchies.values()]
    for path in dict.fromkeys(taken):
        path.mkdir()
    try:
        group = _cgroups.WorkerCgroup.create("v1", memory_bytes=64 << 20, max_pids=8)
        try:
            assert all(path.is_dir() for path in taken)  # the other one's group is intact
            assert group.procs_files()[0].parent.name == f"vcs-sandbox-{os.getpid()}-900001"
        finally:
            group.remove()
    finally:
        for path in dict.fromkeys(taken):
            path.rmdir()
