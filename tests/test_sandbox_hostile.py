"""The hostile-plugin suite under ``strict``: every attack fails and leaves no trace.

Each fixture under ``tests/fixtures/hostile/`` is a plugin project with one
attack (run at import time, in ``register`` and in ``synthesize`` for the
file and network cases).  Here a raw worker script imports the plugin
inside the sandbox, registers it and calls ``synthesize`` with the targets
the test planted: the launcher alone must contain it.
(``tests/test_hostile_host.py`` runs the same attacks through the reference
host.)  Each test then checks,
from outside: canaries unchanged (a file, the real home, the kit's env
cache, site-packages), no connection reached a host service, sentinel
processes outside alive and untraced, nothing secret and no success mark in
the plugin's loot, each phase of a phased attack ran, no process left (an
independent ``/proc`` scan, zombies included), and a next worker still
answers.  ``pth_startup`` runs in a real env built by the isolated provider,
whose ``.pth`` line and ``sitecustomize`` attack before the worker starts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._seams import Limits
from vcs_conformance.envs import IsolatedEnvProvider

from ._sandbox_harness import (
    ALL_ATTACKS,
    COMPLETE_HARMLESSLY,
    HOSTILE,
    PHASED,
    PYTHON,
    SECRET,
    STARTUP,
    Sentinels,
    Services,
    assert_no_loot,
    assert_phases_ran,
    digest,
    hostile_targets,
    make_workspace,
    one,
    phased_in_source,
    plant_in_workspace,
    require,
    sandbox_processes,
    secret_fd,
    sentinels,
    site_dirs,
    start,
)

pytestmark = [pytest.mark.timeout(120)]

#: Attacks on the protocol or the host's own handling: meaningless without the host
#: (tests/test_hostile_host.py drives every attack through it).
HOST_ONLY = {"dotdot_returned_path", "forged_deep_frame", "forged_surrogate_frame",
             "oversized_result", "progress_flood"}
ATTACKS = [a for a in ALL_ATTACKS if a not in HOST_ONLY]
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


@pytest.fixture(scope="module")
def strict():  # type: ignore[no-untyped-def]
    return require("strict")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = Services(tmp_path)
    yield svc
    svc.close()


@pytest.fixture
def sentinel() -> Iterator[Sentinels]:
    with sentinels() as found:
        yield found


@pytest.fixture
def targets(tmp_path: Path, services: Services, sentinel: Sentinels,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    cache = tmp_path / "kit-cache"
    (cache / "envs").mkdir(parents=True)
    monkeypatch.setenv("VCS_CONFORMANCE_CACHE_DIR", str(cache))
    with hostile_targets(tmp_path, services) as found:
        found["sentinel_pids"] = sentinel.pids
        yield found


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_fails_and_leaves_no_trace(strict, tmp_path: Path, services: Services,  # type: ignore[no-untyped-def]
                                          targets: dict[str, Any], sentinel: Sentinels,
                                          attack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_HOSTILE_SECRET_TOKEN", SECRET)
    ws = make_workspace(tmp_path)
    (ws / "cache" / "targets.json").write_text(json.dumps(targets))
    plant_in_workspace(ws)
    cache = Path(targets["env_cache"])
    project = HOSTILE / attack
    python = PYTHON
    extra_ro: tuple[Path, ...] = (project,)
    if attack in STARTUP:  # its env ships the start-up code: built by the isolated provider
        (tmp_path / "targets.json").write_text(json.dumps(targets))
        monkeypatch.setenv("VCS_HOSTILE_TARGETS", str(tmp_path / "targets.json"))
        env = IsolatedEnvProvider()(project)
        python, extra_ro = str(env.python), (project, *env.readonly_paths)
    before = {"datasets": digest(ws / "datasets"), "cache": digest(cache),
              "other": digest(Path(targets["other_project"]))}
    body = _DRIVER.format(project=str(project), workspace=str(ws),
                          temp_dir=str(tmp_path / "worker-tmp"),
                          module=f"hostile_{attack}.plugin", targets=json.dumps(targets))
    with secret_fd(targets["canary"]):  # open and inheritable in the host while it spawns
        run = start(strict, tmp_path, body, limits=LIMITS, workspace=ws, python=python,
                    extra_ro=extra_ro, timeout=_SLOW.get(attack, 60.0))
    worker = run.worker
    try:
        if attack == "memory_hog":
            worker.wait(30)
            assert worker.limit_hit() == "memory"
        if attack == "cpu_spin":
            worker.wait(30)
            assert worker.limit_hit() == "cpu"
        sentinel.assert_untouched()
    finally:
        run.release()
        worker.close()

    # Nothing outside changed.
    assert Path(targets["canary"]).read_text() == SECRET
    assert (Path(targets["home"]) / targets["home_canary"]).read_text() == SECRET
    assert not Path(targets["host_tmp_file"]).exists()
    assert not (Path.home() / ".vcs-hostile-bashrc").exists()
    assert digest(Path(targets["other_project"])) == before["other"]
    assert digest(ws / "datasets") == before["datasets"]
    assert digest(cache) == before["cache"]
    assert not Path("/dev/shm", targets["shm_name"]).exists()
    # Where a .pth would run: the interpreter the worker runs (with -I: its own prefix),
    # the plugin env's when it has one.
    for site in (*site_dirs(sys.base_prefix), *site_dirs(Path(python).parent.parent)):
        assert not (site / "zz_evil.pth").exists() and not (site / "zz_poison.pth").exists()
    assert not Path("/tmp/pwned").exists()
    assert services.hits == []
    sentinel.assert_untouched()
    # Nothing secret got out (the loot the plugin wrote where it may write), and the
    # phased attacks really ran in every phase.
    assert_no_loot(ws, targets)
    if attack in PHASED:
        assert_phases_ran(ws, attack, harmless=attack in COMPLETE_HARMLESSLY)
    if attack == "setuid_binary":  # the planted setuid-root id ran, and not as root
        loot = (ws / "outputs" / "loot-setuid_binary.txt").read_text()
        assert "via planted" in loot and "euid=0 " not in loot, loot
    # No process is left (an independent /proc scan: the sandbox uid in this run's
    # cgroups or below this process, and no zombie), the temp dir is gone, and the
    # host answers the next worker.
    assert sandbox_processes(frozenset(sentinel.pids)) == []
    assert worker.poll() is not None
    assert not (tmp_path / "worker-tmp").exists()
    nxt = tmp_path / "next"
    nxt.mkdir()
    assert one(strict, nxt, 'result["ok"] = True') == {"ok": True}
    assert sandbox_processes(frozenset(sentinel.pids)) == []


def test_the_suite_covers_enough_attacks() -> None:
    assert len(ATTACKS) >= 30
    assert set(ALL_ATTACKS) >= HOST_ONLY
    assert set(ALL_ATTACKS) >= PHASED
    # PHASED is what the fixtures do: a new file or network attack cannot be left out.
    assert {a for a in ALL_ATTACKS if phased_in_source(a)} == PHASED
