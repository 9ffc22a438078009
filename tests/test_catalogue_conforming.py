"""The catalogue never misfires on a conforming plugin, on any core and shim window.

The other half of ``test_catalogue_defects.py``: conforming plugins of API
1.0, 1.1 and 1.2 (``tests/fixtures/conforming/api-1-*``, copies of the
matrix fixtures) run on cores 1.0.0, 1.1.0 and 1.2.0 with shim windows 1
and 2.  Per cell SPEC 1 decides: native (every check passes), a shim chain
(every check passes, ``shim-equivalence`` included, node ids carry the
chain) or incompatible (the packaging checks pass, the rest skip naming the
rule and both versions).  One kit process per (core, window) runs all three
plugins, so the nine cells of a row share a process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_catalogue_defects import BASE_OPTIONS, CONFORMING, KitRun, run_kit
from vcs_conformance._checks._catalogue import CHECK_IDS

PLUGINS = {"1.0": "api-1-0", "1.1": "api-1-1", "1.2": "api-1-2"}
CORES = ("1.0.0", "1.1.0", "1.2.0")
WINDOWS = (1, 2)
#: The checks before compat-core (the manifest in the built wheel): they run on any
#: core; every later check, package-entry-point included, skips for an incompatible one.
PACKAGING = {"manifest-present", "manifest-schema", "manifest-identity"}


def expected_cell(api: str, core: str, window: int) -> tuple[str, tuple[str, ...], str | None]:
    """SPEC 1 by hand (independently of ``compat.decide``): kind, chain, rule."""
    p, c = int(api.split(".")[1]), int(core.split(".")[1])
    if p > c:
        return "incompatible", (), "needs-newer-core"
    if p == c:
        return "native", (), None
    if c - p <= window:
        return "shim", tuple(f"1.{m}" for m in range(p, c + 1)), None
    return "incompatible", (), "too-old-for-window"


@pytest.fixture(scope="session")
def matrix_run(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Callable[[str, int], KitRun]]:
    """``matrix_run(core, window)``: one kit run of the three plugins, made once."""
    cache: dict[tuple[str, int], KitRun] = {}

    def get(core: str, window: int) -> KitRun:
        if (core, window) not in cache:
            work = tmp_path_factory.mktemp(f"matrix-{core}-w{window}")
            cache[(core, window)] = run_kit(
                work, [str(CONFORMING / d) for d in PLUGINS.values()], *BASE_OPTIONS,
                f"--vcs-core-version={core}", f"--vcs-shim-window={window}")
        return cache[(core, window)]

    yield get


def _plugin(run: KitRun, api: str) -> dict[str, Any]:
    name = "vcs-conf-api" + api.replace(".", "")
    entries: list[dict[str, Any]] = [p for p in run.report["plugins"]
                                      if p["info"]["name"] == name]
    assert len(entries) == 1, [p["info"]["name"] for p in run.report["plugins"]]
    return entries[0]


@pytest.mark.slow
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("api", sorted(PLUGINS))
def test_conforming_plugin_cell(api: str, core: str, window: int,
                                matrix_run: Callable[[str, int], KitRun]) -> None:
    run = matrix_run(core, window)
    kind, chain, rule = expected_cell(api, core, window)
    entry = _plugin(run, api)
    info = entry["info"]
    name = info["name"]
    assert info["decision"]["kind"] == kind, info["decision"]
    checks = entry["checks"]
    outcomes = {c: e["outcome"] for c, e in checks.items()}
    if kind == "incompatible":
        assert set(outcomes) == set(CHECK_IDS) - {"shim-equivalence"}
        assert {c for c, o in outcomes.items() if o == "passed"} == PACKAGING
        for check in set(outcomes) - PACKAGING:
            reason = checks[check]["reason"]
            assert outcomes[check] == "skipped", (check, outcomes[check])
            assert f"({rule})" in reason and f"core {core}" in reason, reason
            assert f"API {api}" in reason, reason
        assert "VCSCompatibilityWarning" in run.stdout
        assert f"plugin {name} 0.3.0, targets API {api}: incompatible ({rule})" in run.stdout
        return
    failing = {c: checks[c].get("reason") for c, o in outcomes.items() if o != "passed"}
    assert not failing, failing  # every check passes: no misfire
    suffix = "[" + "-".join(chain) + "]" if kind == "shim" else ""
    expected_ids = set(CHECK_IDS) if kind == "shim" else set(CHECK_IDS) - {"shim-equivalence"}
    assert set(outcomes) == expected_ids
    assert {e["node"] for e in checks.values()} == {f"vcs/{name}/{c}{suffix}"
                                                   for c in expected_ids}
    label = "native" if kind == "native" else "shim " + "->".join(chain)
    assert f"plugin {name} 0.3.0, targets API {api}: {label} on core {core}" in run.stdout
    assert run.report["plugins"] and entry["examples"]  # hypothesis examples really ran


def test_expected_cells_follow_spec_1() -> None:
    """The hand-written table the cells are judged by (so a typo in it cannot hide)."""
    table = {(a, c, w): expected_cell(a, c, w)[0] for a in PLUGINS for c in CORES
             for w in WINDOWS}
    assert table[("1.0", "1.2.0", 1)] == "incompatible"
    assert table[("1.0", "1.2.0", 2)] == "shim"
    assert expected_cell("1.0", "1.2.0", 2)[1] == ("1.0", "1.1", "1.2")
    assert table[("1.2", "1.0.0", 2)] == "incompatible"
    assert sorted(table.values()).count("native") == 6
    assert sorted(table.values()).count("shim") == 5


@pytest.mark.slow
def test_template_plugin_passes_everything(tmp_path: Path) -> None:
    """The template the defective fixtures copy is conforming: all 18 checks pass."""
    run = run_kit(tmp_path, [str(CONFORMING / "tone-1-2")], *BASE_OPTIONS)
    assert run.ret == pytest.ExitCode.OK, run.stdout
    assert set(run.outcomes()) == set(CHECK_IDS) - {"shim-equivalence"}
    assert set(run.outcomes().values()) == {"passed"}
    examples = run.report["plugins"][0]["examples"]
    assert set(examples) == {"init", "preprocess", "train", "synthesize"}
    assert examples["init"] > 1  # config_schema: generated configs, not just {}
    # What the kit costs is in the report: the plugin's own share of each check (timed in
    # the worker) and, for each generated check, the kit's median ms per example.
    checks = run.report["plugins"][0]["checks"]
    for check in ("synthesize-valid", "train-valid", "init-config", "preprocess-valid"):
        entry = checks[check]
        assert 0 < entry["plugin_s"] < entry["duration_s"], (check, entry)
        assert 0 < entry["kit_ms_per_example"] < 1000 * entry["duration_s"], (check, entry)
    assert "kit_ms_per_example" not in checks["manifest-schema"]


def test_entry_point_naming_register_is_tolerated_with_a_warning(tmp_path: Path) -> None:
    """SPEC 2: ``pkg.plugin:register`` is tolerated: the checks pass, a warning says why."""
    run = run_kit(tmp_path, [str(CONFORMING / "entry-point-attr")], *BASE_OPTIONS,
                  "-k", "manifest or package or register")
    assert set(run.outcomes()) == PACKAGING | {"package-entry-point", "package-install",
                                               "register-import", "register-hooks"}
    assert set(run.outcomes().values()) == {"passed"}, run.stdout
    assert "entry point 'vcs_tone_attr.plugin:register' names an attribute" in run.stdout
    assert "tolerated" in run.stdout
