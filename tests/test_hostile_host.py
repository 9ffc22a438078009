"""The hostile-plugin suite through the reference host, under ``strict`` (SPEC 6).

Each fixture under ``tests/fixtures/hostile/`` is a plugin with one attack;
the file and network attacks run at import time, in ``register`` and in
``synthesize``.  Here every one is loaded with ``PluginHost(...,
launcher=make_launcher("strict"))``, as a core would load it, and each test
asserts, from outside the sandbox:

* the attack failed: canaries unchanged, no connection reached a host
  service, nothing secret in what the plugin could write, and for the
  file and network cases each phase left evidence that it ran and failed;
* the host reported it as the one right error class and survived: the
  *next* call on the same host and plugin succeeds;
* nothing outside changed and no process is left: ``leftover_pids`` after
  the call, and an independent ``/proc`` scan (the sandbox uid in this run's
  cgroups or below this process, zombies included) once the host is closed;
* host-side evidence where the plugin's word would not do: two sentinel
  processes outside the sandbox (one of the sandbox uid, one of the host's)
  alive and untraced, the worker's namespaces, root and mounts unchanged
  (``mount_chroot``), a secret descriptor open and inheritable in the host
  while it spawns (never readable inside), a canary in the real home, a
  setuid-root ``id`` planted in ``datasets/`` that runs but not as root, a
  pty as the host's controlling terminal (TIOCSTI), and the kit's real env
  cache with a sibling env (cache poisoning).

CI sets ``VCS_REQUIRE_STRICT=1``: without bubblewrap these fail, not skip.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._seams import Launcher, Limits
from vcs_conformance.envs import IsolatedEnvProvider
from vcs_conformance.errors import (
    OutputInvalid,
    PluginTimeout,
    ProtocolError,
    ResourceLimitExceeded,
    VCSError,
)
from vcs_conformance.host import DEFAULT_SETTINGS, PluginHost

from ._sandbox_harness import (
    ALL_ATTACKS,
    COMPLETE_HARMLESSLY,
    HOSTILE,
    PHASED,
    SECRET,
    STARTUP,
    OpenWatch,
    Sentinels,
    Services,
    assert_no_loot,
    assert_phases_ran,
    attempts,
    digest,
    hostile_targets,
    plant_in_workspace,
    require,
    sandbox_processes,
    secret_fd,
    sentinels,
    site_dirs,
)

pytestmark = [pytest.mark.timeout(120)]

#: Small limits, so the resource attacks end in seconds.
LIMITS = Limits(memory_mb=256, cpu_seconds=2, timeout_seconds=8.0, max_processes=16,
                max_file_size_mb=8, max_open_files=64, max_written_mb=64,
                max_written_files=500, max_progress_events=20_000)

#: attack -> (error class(es), the ``limit`` of a ResourceLimitExceeded, a fragment of
#: the message).  Attacks not listed run to their end and return ``{"error": ...}``,
#: which the host rejects as output: the call completed and the attack's effect is
#: judged from outside.
_Expected = tuple[type[VCSError] | tuple[type[VCSError], ...], str | None, str]
EXPECTED: dict[str, _Expected] = {
    "cpu_spin": (ResourceLimitExceeded, "cpu", "cpu limit"),
    "memory_hog": (ResourceLimitExceeded, "memory", "memory limit"),
    "many_files": (ResourceLimitExceeded, "disk", "cache/many"),
    "progress_flood": (ResourceLimitExceeded, "progress_events", "20000 progress events"),
    "ignore_sigterm": (PluginTimeout, None, "no answer within 8 s"),
    # Writing 13 GB burns CPU time too: whichever of the two stops it first.
    "stdout_flood": ((PluginTimeout, ResourceLimitExceeded), "cpu", "the worker"),
    "forged_frames": (ProtocolError, None, "frame header announces"),
    "forged_deep_frame": (ProtocolError, None, "nested deeper than"),
    "forged_surrogate_frame": (ProtocolError, None, "lone surrogate"),
    "deep_json": (OutputInvalid, None, "nested too deeply"),
    "lone_surrogate": (OutputInvalid, None, "lone surrogate"),
    "oversized_result": (OutputInvalid, None, "frame limit"),
    "symlink_returned_path": (OutputInvalid, None, "symlink out of the workspace"),
    "dotdot_returned_path": (OutputInvalid, None, "contains '..'"),
}
_DEFAULT: _Expected = (OutputInvalid, None, "'audio' is a required property")

#: Attacks that leave processes running after a call that completed: the host
#: must *report* them (``leftover_pids``) and end them when the worker stops.
LEAVE_PROCESSES = {"double_fork_daemon", "fork_bomb"}


@pytest.fixture(scope="module")
def strict() -> Launcher:
    return require("strict")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = Services(tmp_path)
    yield svc
    svc.close()


@pytest.fixture
def kit_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kit's env cache (``VCS_CONFORMANCE_CACHE_DIR``), with an entry to tamper with."""
    cache = tmp_path / "kit-cache"
    (cache / "envs" / ("0" * 40) / "venv").mkdir(parents=True)
    (cache / "envs" / ("0" * 40) / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    monkeypatch.setenv("VCS_CONFORMANCE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def targets(tmp_path: Path, services: Services, kit_cache: Path,
            sentinel: Sentinels) -> Iterator[dict[str, Any]]:
    with hostile_targets(tmp_path, services) as found:
        found["sentinel_pids"] = sentinel.pids
        yield found


@pytest.fixture
def sentinel() -> Iterator[Sentinels]:
    with sentinels() as found:
        yield found


def _site_dirs() -> tuple[Path, ...]:
    """Where a ``.pth`` would run for the interpreter the plugin runs: the worker runs
    ``sys.executable -I`` (this venv, whose ``purelib`` is not the base's), and the base."""
    return (*site_dirs(sys.prefix), *site_dirs(sys.base_prefix))


def _attack_call(plugin: Any, targets: dict[str, Any]) -> None:
    if "train" in plugin.hooks:
        plugin.train({"items": [], "sample_rate": 22050})
    else:
        plugin.synthesize(json.dumps(targets))


def _assert_outside_unchanged(targets: dict[str, Any], before: dict[str, Any],
                              services: Services) -> None:
    assert Path(targets["canary"]).read_text() == SECRET
    assert (Path(targets["home"]) / targets["home_canary"]).read_text() == SECRET
    assert not Path(targets["host_tmp_file"]).exists()
    assert not Path(targets["host_tmp_file"] + ".hook-ran").exists()
    assert not (Path.home() / ".vcs-hostile-bashrc").exists()
    assert digest(Path(targets["other_project"])) == before["other"]
    assert digest(Path(targets["env_cache"])) == before["cache"]
    assert not Path("/dev/shm", targets["shm_name"]).exists()
    for site in _site_dirs():
        assert not (site / "zz_evil.pth").exists() and not (site / "zz_poison.pth").exists()
    assert not Path("/tmp/pwned").exists()
    assert "vcs-hostile" not in Path("/proc/self/mountinfo").read_text()
    assert services.hits == []


@pytest.mark.parametrize("attack", ALL_ATTACKS)
def test_attack_through_the_host_fails_and_leaves_no_trace(
        strict: Launcher, tmp_path: Path, services: Services, targets: dict[str, Any],
        sentinel: Sentinels, kit_cache: Path, attack: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_HOSTILE_SECRET_TOKEN", SECRET)
    project = HOSTILE / attack
    before = {"other": digest(Path(targets["other_project"])), "project": digest(project),
              "cache": digest(kit_cache)}
    provider = None
    if attack in STARTUP:  # a real env (in the kit cache) whose site-packages ships the code
        (tmp_path / "targets.json").write_text(json.dumps(targets))
        monkeypatch.setenv("VCS_HOSTILE_TARGETS", str(tmp_path / "targets.json"))
        provider = IsolatedEnvProvider()
        provider(project)  # built (as the host will find it) before the cache is measured
        before["cache"] = digest(kit_cache)
    host = PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS,
                      env_provider=provider)
    ws = host.workspace.root
    known_gap = None
    try:
        (ws / "datasets" / "ds").mkdir(parents=True)
        (ws / "datasets" / "ds" / "metadata.csv").write_text("a|hello\n")
        (ws / "cache" / "targets.json").write_text(json.dumps(targets))
        plant_in_workspace(ws)
        datasets_before = digest(ws / "datasets")

        # A secret descriptor open (and inheritable) in the host whenever it spawns a worker.
        with secret_fd(targets["canary"]):
            plugin = host.load(project)  # import and register run the phased attacks
            views = _sandbox_views(frozenset(sentinel.pids)) if attack == "mount_chroot" else {}
            kind, limit, fragment = EXPECTED.get(attack, _DEFAULT)
            # Nobody opens the secrets outside while the attack runs: not the plugin, not
            # the host following a returned path (the WAV behind "outputs/../../etc/passwd").
            watch = OpenWatch((targets["canary"], str(tmp_path / "etc" / "passwd"),
                               str(Path(targets["home"]) / targets["home_canary"])))
            try:
                with pytest.raises(kind) as caught:
                    _attack_call(plugin, targets)
                assert watch.events() == 0, "a file outside the workspace was opened or read"
            finally:
                watch.close()
            assert fragment in caught.value.message
            if limit is not None and isinstance(caught.value, ResourceLimitExceeded):
                assert caught.value.limit == limit
            elif limit is not None:
                assert not isinstance(kind, type) or kind is not ResourceLimitExceeded
            record = plugin.last_call
            assert record is not None and record.error == caught.value.code
            if attack in LEAVE_PROCESSES:
                assert record.leftover_pids, "a process outliving the call must be reported"
                assert sandbox_processes(frozenset(sentinel.pids)), \
                    "the uid scan must see what the host reported"
            else:
                assert record.leftover_pids == []
            if views:  # no namespace, root or mount of the worker's changed
                assert _sandbox_views(frozenset(sentinel.pids)) == views
            sentinel.assert_untouched()

            # The host survived: the next call on the same host and plugin succeeds
            # (a killed worker is started again, with the import-time attacks again).
            if attack == "fork_bomb":
                known_gap = _next_call_after_fork_bomb(plugin)
            result = plugin.synthesize("behave")
        assert (ws / result["audio"]).is_file()
        if attack not in LEAVE_PROCESSES:
            assert plugin.last_call is not None and plugin.last_call.leftover_pids == []

        if attack in PHASED:
            assert_phases_ran(ws, attack, harmless=attack in COMPLETE_HARMLESSLY)
        assert digest(ws / "datasets") == datasets_before
        assert not (ws / ".git").exists()
        _assert_attack_observed(attack, ws)
    finally:
        host.close()

    _assert_outside_unchanged(targets, before, services)
    assert_no_loot(ws, targets)
    sentinel.assert_untouched()
    assert digest(project) == before["project"]
    assert host.settings == DEFAULT_SETTINGS
    assert not host.scratch.exists()  # worker temp dirs included
    assert sandbox_processes(frozenset(sentinel.pids)) == []
    if known_gap:
        pytest.xfail(known_gap)


def _loot(ws: Path, attack: str) -> str:
    path = ws / "outputs" / f"loot-{attack}.txt"
    return path.read_text(errors="replace") if path.exists() else ""


def _assert_attack_observed(attack: str, ws: Path) -> None:
    """Evidence that the attack really reached its target (so its failure means something)."""
    if attack == "setuid_binary":
        # The planted setuid-root ``id`` ran, and not as root.
        euids = [line for line in _loot(ws, attack).splitlines() if "via planted" in line]
        assert euids and all("euid=0 " not in e for e in euids), _loot(ws, attack)
    if attack == "read_home":
        # The listing (if any) never shows the planted canary: the real home is not there.
        assert "vcs-hostile-home-" not in _loot(ws, attack)


def _sandbox_views(exclude: frozenset[int]) -> dict[int, tuple[str, ...]]:
    """Per sandboxed process: its root, user and mount namespaces, and hostile mounts.

    Read by the host from ``/proc`` (not from what the plugin says): a mount, a
    chroot or an unshare the plugin managed shows up here.
    """
    views: dict[int, tuple[str, ...]] = {}
    for pid, state in sandbox_processes(exclude):  # not the sentinels: the sandbox's own
        if state == "Z":
            continue
        try:
            views[pid] = (os.readlink(f"/proc/{pid}/root"), os.readlink(f"/proc/{pid}/ns/user"),
                          os.readlink(f"/proc/{pid}/ns/mnt"),
                          str("vcs-hostile" in Path(f"/proc/{pid}/mountinfo").read_text()))
        except OSError:
            continue
    assert views, "no sandboxed process found to watch"
    return views


def _next_call_after_fork_bomb(plugin: Any) -> str | None:
    """The fork bomb's children are copies of the worker: none may answer for it.

    The worker closes its protocol pipe in every forked child
    (``os.register_at_fork``), so the call right after the attack reads the
    real worker's answer, never a stale one from a copy (``ProtocolError``).
    """
    try:
        plugin.synthesize("behave")
    except ProtocolError as exc:
        pytest.fail(f"a forked copy of the worker answered on the protocol pipe: {exc}")
    return None


def test_registry_tampering_raises_permission_error_and_the_host_is_untouched(
        strict: Launcher, tmp_path: Path) -> None:
    settings = {"locale": "de_DE", "default_sample_rate": 16000}
    with PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS,
                    settings=settings) as host:
        plugin = host.load(HOSTILE / "tamper_registry")
        outcomes = {a["phase"]: a["outcome"]
                    for a in attempts(host.workspace.root, "tamper_registry")}
        after = json.loads(outcomes.pop("after"))
        assert outcomes and set(outcomes.values()) == {"PermissionError"}, outcomes
        assert after == {"workspace": str(host.workspace.root), "api_version": "1.2",
                         "settings": settings}
        assert host.settings == settings
        assert (host.workspace.root / plugin.synthesize("behave")["audio"]).is_file()
        # A second plugin on the same host gets the settings as the host has them.
        other = host.load(HOSTILE / "tamper_registry")
        second = [a for a in attempts(host.workspace.root, "tamper_registry")
                  if a["phase"] == "after"]
        assert [json.loads(a["outcome"])["settings"] for a in second] == [settings, settings]
        other.close()


def test_planted_git_hooks_never_run(strict: Launcher, tmp_path: Path,
                                     targets: dict[str, Any]) -> None:
    """Hooks planted where the plugin may write stay inert: the host runs nothing from there."""
    marker = Path(targets["host_tmp_file"] + ".hook-ran")
    with PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS) as host:
        ws = host.workspace.root
        (ws / "cache" / "targets.json").write_text(json.dumps(targets))
        plugin = host.load(HOSTILE / "plant_git_hook")
        with pytest.raises(OutputInvalid):
            plugin.synthesize(json.dumps(targets))
        plugin.synthesize("behave")
        for area in ("cache", "models", "outputs"):
            assert (ws / area / ".git" / "hooks" / "post-checkout").is_file()
            assert (ws / area / ".git" / "config").is_file()
        assert not (ws / ".git").exists()  # the workspace root is read-only inside
    assert not marker.exists()


def test_the_write_cap_reports_and_deletes_nothing(strict: Launcher, tmp_path: Path) -> None:
    with PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS) as host:
        plugin = host.load(HOSTILE / "many_files")
        with pytest.raises(ResourceLimitExceeded) as caught:
            plugin.synthesize("attack")
        err = caught.value
        assert err.limit == "disk" and err.code == "resource-limit"
        written = err.details["written"]
        assert written["grown_entries"] > LIMITS.max_written_files
        assert written["where"][0][0] == "cache/many"
        assert "max_written_files=500" in err.message and "Nothing was deleted" in err.message
        assert err.hint and "max_written_files" in err.hint
        # What the plugin wrote is the user's to keep or delete.
        assert len(os.listdir(host.workspace.root / "cache" / "many")) > 500
        assert plugin.synthesize("behave")["duration_s"] == 0.25


# -- limits the plugin meets as exceptions, reported through the host ----------------------

@pytest.mark.parametrize(("attack", "limit"), [("fork_bomb", "processes"),
                                               ("huge_file", "max_file_size_mb"),
                                               ("fd_exhaustion", "max_open_files")])
def test_a_limit_hit_inside_is_reported_as_that_limit(strict: Launcher, tmp_path: Path,
                                                      attack: str, limit: str) -> None:
    """The plugin lets the limit's exception out (EAGAIN from fork, EFBIG, EMFILE)."""
    with PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS) as host:
        plugin = host.load(HOSTILE / attack)
        with pytest.raises(ResourceLimitExceeded) as caught:
            plugin.synthesize("raise")
        assert caught.value.limit == limit, caught.value.message
        assert f"hit its {limit} limit" in caught.value.message
        if attack == "fork_bomb":  # its children are still there: reported, then ended
            assert plugin.last_call is not None and plugin.last_call.leftover_pids
        assert (host.workspace.root / plugin.synthesize("behave")["audio"]).is_file()
        if attack == "huge_file":
            size = (host.workspace.root / "outputs" / "huge.bin").stat().st_size
            assert size <= LIMITS.max_file_size_mb * 1024 * 1024
    assert sandbox_processes() == []


def test_eagain_of_non_blocking_io_is_not_the_process_limit() -> None:
    """Only an EAGAIN while new processes really cannot start names ``processes``."""
    import errno
    import socket

    from vcs_conformance import _worker

    a, b = socket.socketpair()
    a.setblocking(False)
    with a, b, pytest.raises(BlockingIOError) as caught:
        a.recv(1)
    assert _worker._limit_of(caught.value) is None
    assert _worker._limit_of(OSError(errno.EMFILE, "too many")) == "max_open_files"


# -- TIOCSTI: a host with a controlling terminal ------------------------------------------

_TTY_HOST = """
import fcntl, json, os, select, sys, termios, time
from pathlib import Path
mode, project, targets_path, ws, result_path = sys.argv[1:6]
fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty is now this session's controlling terminal
os.close(os.open("/dev/tty", os.O_RDWR))
targets = json.loads(Path(targets_path).read_text())
out = {"mode": mode}
if mode == "control":  # the attack itself, run by a process holding the terminal
    sys.path.insert(0, project)
    from hostile_tiocsti.plugin import attack
    try:
        attack(targets)
        out["attack"] = "completed"
    except OSError as exc:
        out["attack"] = repr(exc)
else:
    from vcs_conformance._seams import Limits
    from vcs_conformance.host import PluginHost
    from vcs_conformance.sandbox import make_launcher
    with PluginHost(workspace=ws, launcher=make_launcher("strict"),
                    limits=Limits(timeout_seconds=30)) as host:
        plugin = host.load(project)
        try:
            plugin.synthesize(json.dumps(targets))
        except Exception as exc:
            out["attack"] = type(exc).__name__
        out["behave"] = plugin.synthesize("behave")["audio"]
time.sleep(0.3)
typed = b""
while select.select([0], [], [], 0.2)[0]:  # what arrived on the terminal's input
    typed += os.read(0, 4096)
out["typed"] = typed.decode(errors="replace")
Path(result_path).write_text(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["control", "host"])
def test_tiocsti_types_nothing_into_the_hosts_terminal(strict: Launcher, tmp_path: Path,
                                                      targets: dict[str, Any],
                                                      sentinel: Sentinels, mode: str) -> None:
    """The host runs on a pty (its controlling terminal); the plugin tries TIOCSTI.

    ``control`` runs the attack in the terminal's own session and must see the
    marker arrive (so the observation works); ``host`` runs it in a worker and
    nothing may arrive: not on the terminal's input, not in its echo.
    """
    import pty
    import subprocess
    import threading

    master, slave = pty.openpty()
    (tmp_path / "targets.json").write_text(json.dumps(targets))
    result = tmp_path / "result.json"
    ws = tmp_path / "ws"
    (ws / "cache").mkdir(parents=True)
    (ws / "cache" / "targets.json").write_text(json.dumps(targets))
    proc = subprocess.Popen(
        [sys.executable, "-c", _TTY_HOST, mode, str(HOSTILE / "tiocsti"),
         str(tmp_path / "targets.json"), str(ws), str(result)],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        cwd=Path(__file__).resolve().parents[1])
    os.close(slave)
    echoed = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            echoed.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(2)
        os.close(master)
    assert proc.returncode == 0, echoed.decode(errors="replace")[-2000:]
    out = json.loads(result.read_text())
    marker = targets["tiocsti_marker"]
    seen = echoed.decode(errors="replace") + out["typed"]
    if mode == "control":
        assert out["attack"] == "completed" and marker in seen, (out, seen[-500:])
    else:
        assert out["attack"] == "OutputInvalid", out
        assert marker not in seen, seen[-2000:]
        assert (ws / out["behave"]).is_file()
        assert "injected" not in _loot(ws, "tiocsti")
        assert sandbox_processes(frozenset(sentinel.pids)) == []
    assert not Path("/tmp/pwned").exists()


# -- the kit's real env cache ---------------------------------------------------------------

def _listing(cache: Path) -> list[str]:
    """The cache dir's top two levels (entries, locks, wheels): nothing may be added."""
    return sorted(str(p.relative_to(cache)) for p in cache.glob("*/*")) + sorted(os.listdir(cache))


def test_env_cache_poisoning_reaches_neither_its_env_nor_a_siblings(
        strict: Launcher, tmp_path: Path, targets: dict[str, Any], services: Services,
        kit_cache: Path, sentinel: Sentinels) -> None:
    """Two isolated envs in one cache dir; the hostile one goes for both and the cache."""
    shutil.rmtree(kit_cache)  # a cache holding just what the provider builds
    provider = IsolatedEnvProvider()  # the default cache: VCS_CONFORMANCE_CACHE_DIR
    assert provider.cache_dir == kit_cache
    sibling = provider(HOSTILE / "read_canary_file")
    own = provider(HOSTILE / "poison_env_cache")
    sibling_venv, own_venv = sibling.python.parent.parent, own.python.parent.parent
    assert sibling_venv.parent.parent == own_venv.parent.parent == kit_cache / "envs"
    assert sibling.manifest_path is not None
    targets["sibling_files"] = [str(sibling.manifest_path.parent / "plugin.py"),
                                str(sibling_venv / "pyvenv.cfg")]
    before = {"sibling": digest(sibling_venv), "own": digest(own_venv),
              "cache": _listing(kit_cache)}
    with PluginHost(workspace=tmp_path / "ws", launcher=strict, limits=LIMITS,
                    env_provider=provider) as host:
        ws = host.workspace.root
        (ws / "cache" / "targets.json").write_text(json.dumps(targets))
        plugin = host.load(HOSTILE / "poison_env_cache")
        assert plugin.env.kind == "isolated" and plugin.env.python == own.python
        with pytest.raises(OutputInvalid):
            plugin.synthesize(json.dumps(targets))
        assert (ws / plugin.synthesize("behave")["audio"]).is_file()
        assert_phases_ran(ws, "poison_env_cache")
        loot = _loot(ws, "poison_env_cache")
    assert digest(sibling_venv) == before["sibling"]
    assert digest(own_venv) == before["own"]
    assert _listing(kit_cache) == before["cache"]
    # It saw its own entry at most, never the sibling's; it read nothing of it.
    assert sibling_venv.parent.name not in loot and "sibling read" not in loot, loot
    assert "poisoned:" not in loot
    # The cache still verifies: the next provider gets both envs as hits.
    assert IsolatedEnvProvider()(HOSTILE / "poison_env_cache").info["cache_hit"] is True
    assert IsolatedEnvProvider()(HOSTILE / "read_canary_file").info["cache_hit"] is True
    sentinel.assert_untouched()
    assert services.hits == []
    assert sandbox_processes(frozenset(sentinel.pids)) == []
