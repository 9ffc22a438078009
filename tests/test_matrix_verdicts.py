"""Baseline comparison (the gate), expectations and manifest suggestions, on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._matrix_data import NATIVE, base, fail, matrix, shim, skip
from vcs_conformance._matrix_list import load_list
from vcs_conformance._matrix_verdicts import (
    CELL_ERROR,
    check_expectations,
    compare,
    load_baseline,
    suggest,
    write_baseline,
)
from vcs_conformance.errors import MatrixConfigError

# -- the gate: only new failures block -----------------------------------------------------


def test_unchanged_cells_pass_the_gate() -> None:
    m = matrix({("p", "1.2.0"): ("1.2", NATIVE), ("p", "1.0.0"): ("1.2", skip("needs-newer-core")),
                ("q", "1.2.0"): ("1.2", fail("hygiene"))})
    result = compare(m, {"p@1.2.0": base("pass"), "p@1.0.0": base("skipped", "needs-newer-core"),
                         "q@1.2.0": base("fail", failing=("hygiene",))})
    assert result.blocking == []
    assert {c.kind for c in result.changes} == {"unchanged"}


def test_a_new_failure_blocks() -> None:
    m = matrix({("p", "1.2.0"): ("1.2", fail("synthesize-valid"))})
    result = compare(m, {"p@1.2.0": base("pass")})
    (change,) = result.blocking
    assert change.kind == "regressed"
    assert change.new_failures == ("synthesize-valid",)
    assert "new failure(s) synthesize-valid (was pass)" in change.message


def test_a_new_failure_beside_a_known_one_blocks_and_names_only_the_new_one() -> None:
    m = matrix({("p", "1.2.0"): ("1.2", fail("hygiene", "train-valid"))})
    (change,) = compare(m, {"p@1.2.0": base("fail", failing=("hygiene",))}).blocking
    assert change.new_failures == ("train-valid",)


def test_a_plugin_newly_refused_by_the_core_blocks() -> None:
    m = matrix({("p", "1.2.0"): ("1.0", skip("too-old-for-window"))})
    (change,) = compare(m, {"p@1.2.0": base("shimmed")}).blocking
    assert "now refused by the core (too-old-for-window)" in change.message


def test_a_cell_that_now_errors_blocks() -> None:
    m = matrix({("p", "1.2.0"): ("1.2", {"kind": "native", "skipped_all": True})})
    assert m.results["p@1.2.0"].status == "error"
    (change,) = compare(m, {"p@1.2.0": base("pass")}).blocking
    assert change.new_failures == (CELL_ERROR,)


@pytest.mark.parametrize(("before", "now", "fixed"), [
    (base("fail", failing=("hygiene",)), NATIVE, ("hygiene",)),
    (base("fail", failing=("hygiene", "train-valid")), fail("hygiene"), ("train-valid",)),
    (base("skipped", "needs-newer-core"), NATIVE, ()),
    (base("error"), NATIVE, (CELL_ERROR,)),
])
def test_improvements_are_reported_never_blocking(before: object, now: dict[str, object],
                                                   fixed: tuple[str, ...]) -> None:
    m = matrix({("p", "1.2.0"): ("1.2", now)})
    result = compare(m, {"p@1.2.0": before})  # type: ignore[dict-item]
    assert result.blocking == []
    (change,) = result.improved
    assert change.fixed == fixed
    assert any("--update-baseline" in line for line in result.summary_lines())


def test_native_to_shimmed_is_a_change_not_a_regression() -> None:
    m = matrix({("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))})
    result = compare(m, {"p@1.2.0": base("pass")})
    assert result.blocking == [] and [c.kind for c in result.changes] == ["changed"]


def test_new_cells_block_only_when_failing_and_dropped_cells_never() -> None:
    m = matrix({("new-ok", "1.2.0"): ("1.2", NATIVE), ("new-bad", "1.2.0"): ("1.2", fail("x"))})
    result = compare(m, {"gone@1.2.0": base("pass")})
    kinds = {c.key: (c.kind, c.blocking) for c in result.changes}
    assert kinds == {"new-ok@1.2.0": ("new", False), "new-bad@1.2.0": ("new", True),
                     "gone@1.2.0": ("dropped", False)}


def test_baseline_round_trip(tmp_path: Path) -> None:
    m = matrix({("p", "1.2.0"): ("1.2", fail("b", "a")), ("p", "1.0.0"): ("1.2",
                                                                         skip("needs-newer-core")),
                ("q", "1.2.0"): ("1.2", NATIVE)})
    path = write_baseline(tmp_path / "ci" / "baseline.json", m)
    loaded = load_baseline(path)
    assert loaded["p@1.2.0"] == base("fail", failing=("a", "b"))
    assert loaded["p@1.0.0"] == base("skipped", "needs-newer-core")
    assert compare(m, loaded).blocking == []
    assert list(json.loads(path.read_text())["cells"]) == sorted(loaded)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no baseline file"),
    ("{", "the baseline is not JSON"),
    ('{"version": 1, "cells": {"p@1.2.0": {"status": "great"}}}', "needs a status"),
    ('{"version": 1, "cells": {"p@1.2.0": {"status": "fail", "failing": "x"}}}', "a list"),
    ('{"cells": {}}', "not a baseline of version 1"),
])
def test_bad_baselines_are_clear_errors(tmp_path: Path, content: str | None,
                                        message: str) -> None:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MatrixConfigError) as info:
        load_baseline(path)
    assert message in info.value.message and str(path) in info.value.message
    if content is None:
        assert info.value.hint is not None and "--update-baseline" in info.value.hint


# -- expectations -----------------------------------------------------------------------------

def _list(tmp_path: Path, expect: str) -> Path:
    (tmp_path / "plug").mkdir()
    path = tmp_path / "list.toml"
    path.write_text(f'cores = ["1.1", "1.2"]\n[[plugin]]\nid = "p"\npath = "plug"\n'
                    f"expect = {{ {expect} }}\n", encoding="utf-8")
    return path


def test_expectations_met(tmp_path: Path) -> None:
    mlist = load_list(_list(tmp_path, '"1.1" = "pass", "1.2" = "shimmed"'))
    m = matrix({("p", "1.1.0"): ("1.1", NATIVE), ("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))})
    assert check_expectations(mlist, m) == []


def test_expectations_catch_status_rule_and_ids(tmp_path: Path) -> None:
    mlist = load_list(_list(tmp_path, '"1.1" = "skipped:major-mismatch", '
                                      '"1.2" = "fail:hygiene"'))
    m = matrix({("p", "1.1.0"): ("1.2", skip("needs-newer-core")),
                ("p", "1.2.0"): ("1.2", fail("hygiene", "train-valid"))})
    mismatches = {x.key: x for x in check_expectations(mlist, m)}
    assert mismatches["p@1.1.0"].expected == "skipped:major-mismatch"
    assert mismatches["p@1.1.0"].seen == "skipped (needs-newer-core)"
    assert "train-valid" in mismatches["p@1.2.0"].seen
    assert "train-valid: train-valid broke" in mismatches["p@1.2.0"].detail


def test_a_shimmed_expectation_needs_shim_equivalence_passed(tmp_path: Path) -> None:
    """A cell whose shim-equivalence was skipped proves nothing: it is not "shimmed"
    (in the table, the gate and the suggestions too), and its expectation is unmet."""
    mlist = load_list(_list(tmp_path, '"1.1" = "pass", "1.2" = "shimmed"'))
    m = matrix({("p", "1.1.0"): ("1.1", NATIVE),
                ("p", "1.2.0"): ("1.1", {**shim(("1.1", "1.2")), "shim_skipped": True})},
               plugins=[{"id": "p", "api_version": "1.1"}])
    assert m.results["p@1.2.0"].status == "error"
    assert "shim-equivalence skipped" in m.results["p@1.2.0"].reason
    assert m.results["p@1.2.0"].shim_check == "skipped"
    (mismatch,) = check_expectations(mlist, m)
    assert mismatch.key == "p@1.2.0"
    assert mismatch.expected == "shimmed"


def test_a_shimmed_expectation_needs_spec_1s_chain(tmp_path: Path) -> None:
    mlist = load_list(_list(tmp_path, '"1.1" = "pass", "1.2" = "shimmed"'))
    m = matrix({("p", "1.1.0"): ("1.1", NATIVE),
                ("p", "1.2.0"): ("1.1", shim(("1.0", "1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.1"}])
    (mismatch,) = check_expectations(mlist, m)
    assert mismatch.detail == "chain 1.0->1.1->1.2, SPEC 1 gives 1.1->1.2"


def test_a_shimmed_expectation_without_the_check_in_the_report(tmp_path: Path) -> None:
    """An old results file (no shim_check) cannot prove a shim either."""
    from vcs_conformance._matrix import CellResult

    mlist = load_list(_list(tmp_path, '"1.1" = "pass", "1.2" = "shimmed"'))
    m = matrix({("p", "1.1.0"): ("1.1", NATIVE), ("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.1"}])
    raw = m.results["p@1.2.0"].to_json()
    del raw["shim_check"]
    m.results["p@1.2.0"] = CellResult.from_json(raw)
    (mismatch,) = check_expectations(mlist, m)
    assert "shim-equivalence is missing from the report" in mismatch.detail


def test_a_cell_without_expectation_or_result_is_a_mismatch(tmp_path: Path) -> None:
    mlist = load_list(_list(tmp_path, '"1.2" = "pass"'))
    m = matrix({("p", "1.1.0"): ("1.1", NATIVE)})
    mismatches = {x.key: x for x in check_expectations(mlist, m)}
    assert "add \"1.1.0\"" in mismatches["p@1.1.0"].detail
    assert mismatches["p@1.2.0"].seen == "the cell was not run"


# -- suggestions ------------------------------------------------------------------------------

def test_suggestion_for_a_plugin_working_natively_and_through_the_shim() -> None:
    m = matrix({("p", "1.0.0"): ("1.1", skip("needs-newer-core")),
                ("p", "1.1.0"): ("1.1", NATIVE), ("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.1", "core_version": ">=1.1,<2"}])
    (s,) = suggest(m)
    assert (s.native, s.shimmed, s.refused) == (("1.1.0",), ("1.2.0",), ("1.0.0",))
    assert (s.api_version, s.core_version) == ("1.1", ">=1.1,<2")
    assert s.matches_declared and s.notes == ()


def test_suggestion_caps_core_version_below_the_first_failing_core() -> None:
    m = matrix({("p", "1.0.0"): ("1.0", NATIVE), ("p", "1.1.0"): ("1.0", fail("train-progress")),
                ("p", "1.2.0"): ("1.0", skip("too-old-for-window")),
                ("p", "1.2.0+w2"): ("1.0", shim(("1.0", "1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.0", "core_version": ">=1.0,<2"}])
    (s,) = suggest(m)
    assert s.core_version == ">=1.0,<1.1"
    assert s.failing == ("1.1.0",) and s.refused == ("1.2.0",)
    assert s.shimmed == () and s.widened == (("1.2.0", 2),)  # a widened window is not support
    assert not s.matches_declared
    assert any("admits core(s) 1.1.0, where it fails" in n for n in s.notes)
    assert any("core 1.2.0 serves it only with shim window 2" in n for n in s.notes)


def test_window_widened_cells_are_kept_apart_from_normal_support() -> None:
    """core 1.2 serves a 1.0 plugin only with window 2: said so, never merged into shimmed."""
    m = matrix({("p", "1.0.0"): ("1.0", NATIVE), ("p", "1.1.0"): ("1.0", shim(("1.0", "1.1"))),
                ("p", "1.2.0"): ("1.0", skip("too-old-for-window")),
                ("p", "1.2.0+w2"): ("1.0", shim(("1.0", "1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.0", "core_version": ">=1.0,<2"}])
    (s,) = suggest(m)
    assert (s.native, s.shimmed, s.refused) == (("1.0.0",), ("1.1.0",), ("1.2.0",))
    assert s.widened == (("1.2.0", 2),)
    assert s.shimmed_labels == ["1.1.0", "1.2.0 (only with shim window 2)"]
    assert (s.api_version, s.core_version) == ("1.0", ">=1.0,<2")
    assert s.notes == ("core 1.2.0 serves it only with shim window 2 (shimmed 1.0->1.1->1.2); "
                       "with the default window 1 it refuses it (too-old-for-window)",)
    doc = s.to_json()
    assert doc["shimmed"] == ["1.1.0"]
    assert doc["shimmed_only_with_window"] == [{"core": "1.2.0", "shim_window": 2}]


def test_a_failing_widened_cell_is_noted_not_counted() -> None:
    m = matrix({("p", "1.0.0"): ("1.0", NATIVE),
                ("p", "1.2.0+w2"): ("1.0", fail("shim-equivalence"))},
               plugins=[{"id": "p", "api_version": "1.0"}])
    (s,) = suggest(m)
    assert s.failing == () and s.widened == ()
    assert s.core_version == ">=1.0,<2"
    assert any(n.startswith("core 1.2.0 with shim window 2: fail: shim-equivalence; the "
                            "default window 1 was not measured") for n in s.notes)


def test_no_suggestion_for_a_plugin_no_core_serves() -> None:
    m = matrix({("f", c): ("2.0", skip("major-mismatch")) for c in ("1.0.0", "1.1.0", "1.2.0")},
               plugins=[{"id": "f", "api_version": "2.0"}])
    (s,) = suggest(m)
    assert (s.api_version, s.core_version) == (None, None)
    assert s.notes == ("works on no measured core (refused: major-mismatch): nothing to "
                       "suggest until it runs somewhere",)


def test_native_failure_withholds_the_api_suggestion() -> None:
    m = matrix({("p", "1.1.0"): ("1.1", fail("hygiene")),
                ("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))},
               plugins=[{"id": "p", "api_version": "1.1"}])
    (s,) = suggest(m)
    assert s.api_version is None and s.core_version == ">=1.2,<2"
    assert "fails natively on core 1.1.0" in s.notes[0]
