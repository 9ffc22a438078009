"""The hostile-plugin suite under ``strict``: every attack fails and leaves no trace.

Each fixture under ``tests/fixtures/hostile/`` is a plugin project with one
attack (run at import time, in ``register`` and in ``synthesize`` for the
file and network cases).  Here a raw worker script imports the plugin
inside the sandbox, registers it and calls ``synthesize`` with the targets
the test planted: the launcher alone must contain it.
(``tests/test_hostile_host.py`` runs the same attacks through the reference
host.)  Each test then checks,
from outside: canaries unchanged, no connection reached a host service,
nothing secret in the plugin's loot, the sandbox cleaned up, and a next
worker still answers.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcs_conformance._seams import Limits

from ._sandbox_harness import (
    ALL_ATTACKS,
    HOSTILE,
    SECRET,
    Services,
    digest,
    hostile_targets,
    one,
    require,
    start,
)

pytestmark = [pytest.mark.timeout(120)]

#: Attacks on the protocol or the host's own handling: meaningless without the host
#: (tests/test_hostile_host.py drives every attack through it).
HOST_ONLY = {"forged_deep_frame", "forged_surrogate_frame", "oversized_result",
             "progress_flood"}
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


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_fails_and_leaves_no_trace(strict, tmp_path: Path, services: Services,  # type: ignore[no-untyped-def]
                                          attack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_HOSTILE_SECRET_TOKEN", SECRET)
    targets = hostile_targets(tmp_path, services)
    from ._sandbox_harness import make_workspace

    ws = make_workspace(tmp_path)
    (ws / "cache" / "targets.json").write_text(json.dumps(targets))
    datasets_before = digest(ws / "datasets")
    other_before = digest(Path(targets["other_project"]))
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
    assert digest(Path(targets["other_project"])) == other_before
    assert digest(ws / "datasets") == datasets_before
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
    assert set(ALL_ATTACKS) >= HOST_ONLY
