"""The matrix list and cell classification, from synthetic reports (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._matrix_data import cell, report
from vcs_conformance._matrix import Matrix, classify, load_results, merge_matrices
from vcs_conformance._matrix_list import Expectation, load_list, parse_expectation
from vcs_conformance.errors import MatrixConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "matrix"


# -- the list -------------------------------------------------------------------------------

def test_the_kits_conformance_list_has_every_cell_with_an_expectation() -> None:
    mlist = load_list(FIXTURES / "conformance.toml")
    assert mlist.cores == ("1.0.0", "1.1.0", "1.2.0")
    assert [e.id for e in mlist.plugins] == ["example", "api-1-0", "api-1-1", "api-1-2",
                                            "api-1-3", "api-2-0"]
    keys = [c.key for c in mlist.cells()]
    assert len(keys) == 6 * 3 + 1
    assert "api-1-0@1.2.0+w2" in keys
    for c in mlist.cells():
        assert c.column in mlist.plugin(c.plugin).expect, c.key
    w2 = mlist.select(["api-1-0@1.2+w2"])[0]
    assert (w2.core, w2.window) == ("1.2.0", 2)
    assert mlist.plugin("api-1-0").expect["1.2.0+w2"] == Expectation("shimmed")
    assert mlist.plugin("api-2-0").expect["1.0.0"] == Expectation("skipped", rule="major-mismatch")


def test_the_gate_list_names_existing_plugins() -> None:
    mlist = load_list(FIXTURES / "gate.toml")
    assert all(Path(e.source).is_dir() for e in mlist.plugins)
    assert len(mlist.cells()) == len(mlist.plugins) * 3


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "plug").mkdir(exist_ok=True)
    path = tmp_path / "list.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ('[[plugin]]\npath = "nowhere"\n', "plugin[0].path: 'nowhere' does not exist"),
    ('[[plugin]]\npath = "plug"\nname = "x"\n', "give exactly one of path"),
    ('[[plugin]]\npath = "plug"\ncolour = 1\n', "unknown key(s) colour"),
    ('cores = ["1.3"]\n[[plugin]]\npath = "plug"\n', "serves API 1.3, which the kit does not"),
    ('cores = [1.2]\n[[plugin]]\npath = "plug"\n', "a core is a string"),
    ('[[plugin]]\npath = "plug"\nexpect = { "1.2" = "great" }\n', "does not start with one of"),
    ('[[plugin]]\npath = "plug"\nexpect = { "1.2" = "skipped:nope" }\n', "names its rule"),
    ('[[plugin]]\npath = "plug"\nexpect = { "1.7" = "pass" }\n', "is not a column"),
    ('[[plugin]]\npath = "plug"\nextra = ["1.2"]\n', "is not CORE+wWINDOW"),
    ('[[plugin]]\npath = "plug"\n[[plugin]]\npath = "plug"\n', "appears twice"),
    ('shim_window = -1\n[[plugin]]\npath = "plug"\n', "shim_window: expected an integer"),
    ('version = 2\n[[plugin]]\npath = "plug"\n', "this kit reads version 1"),
    ('cores = ["1.2"]\n', "names no plugin"),
    ('[[plugin]\n', "not valid TOML"),
])
def test_list_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str,
                                                 message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(MatrixConfigError) as info:
        load_list(path)
    assert message in info.value.message
    assert str(path) in info.value.message


def test_list_defaults_and_names(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[plugin]]\nname = "vcs-some-plugin"\n[[plugin]]\nid = "mine"\n'
                  'path = "plug"\n')
    mlist = load_list(path)
    assert mlist.cores == ("1.0.0", "1.1.0", "1.2.0") and mlist.shim_window == 1
    named, mine = mlist.plugins
    assert (named.id, named.kind, named.source) == ("vcs-some-plugin", "name", "vcs-some-plugin")
    assert (mine.kind, mine.source) == ("path", str((tmp_path / "plug").resolve()))
    with pytest.raises(MatrixConfigError, match="unknown cell"):
        mlist.select(["mine@1.9"])


@pytest.mark.parametrize(("text", "want"), [
    ("pass", Expectation("pass")),
    ("skipped:too-old-for-window", Expectation("skipped", rule="too-old-for-window")),
    ("fail:b,a", Expectation("fail", failing=("a", "b"))),
    ("fail", Expectation("fail")),
])
def test_expectation_grammar(text: str, want: Expectation) -> None:
    assert parse_expectation(text, "here") == want
    assert parse_expectation(want.text(), "here") == want


# -- classification -----------------------------------------------------------------------

def test_native_pass() -> None:
    res = classify(cell("p", "1.2.0"), report("native"), returncode=0)
    assert (res.status, res.label(), res.failing) == ("pass", "pass", ())
    assert res.plugin["api_version"] == "1.2"


def test_shimmed_pass_keeps_the_chain() -> None:
    res = classify(cell("p", "1.2.0"), report("shim", chain=("1.1", "1.2"), api="1.1"),
                   returncode=0)
    assert res.status == "shimmed"
    assert res.label() == "shimmed 1.1->1.2"


def test_skip_keeps_rule_and_message() -> None:
    res = classify(cell("p", "1.0.0"), report("incompatible", rule="needs-newer-core",
                                              message="plugin targets API 1.2, newer"),
                   returncode=0)
    assert (res.status, res.rule) == ("skipped", "needs-newer-core")
    assert res.reason == "plugin targets API 1.2, newer"
    assert res.label() == "skipped (needs-newer-core)"


def test_failure_lists_the_failing_ids_with_reasons() -> None:
    res = classify(cell("p", "1.2.0"), report(failed={"hygiene": "left a process",
                                                      "synthesize-valid": "bad WAV"}),
                   returncode=1)
    assert res.status == "fail"
    assert res.failing == ("hygiene", "synthesize-valid")
    assert res.failures["hygiene"] == "left a process"
    assert res.label() == "fail: hygiene, synthesize-valid"


def test_a_check_error_counts_as_failing() -> None:
    rep = report()
    rep["plugins"][0]["checks"]["hygiene"] = {"outcome": "error", "reason": "setup broke"}
    assert classify(cell("p", "1.2.0"), rep, returncode=1).failing == ("hygiene",)


def test_expected_failures_do_not_fail_the_cell() -> None:
    rep = report()
    rep["plugins"][0]["checks"]["hygiene"] = {"outcome": "xfailed", "reason": "known"}
    assert classify(cell("p", "1.2.0"), rep, returncode=0).status == "pass"


@pytest.mark.parametrize(("rep", "returncode", "why"), [
    (None, 4, "pytest exited 4 without writing a report"),
    (report(), None, "timed out"),
    (report(), 3, "pytest exited 3 (not a test verdict)"),
    ({"plugins": []}, 0, "lists no plugin"),
    (report(skipped_all=True, message="no hooks"), 0, "no check passed; skipped: no hooks"),
    (report(), 1, "pytest failed but no check failed"),
])
def test_broken_runs_are_errors_not_passes(rep: dict[str, object] | None,
                                            returncode: int | None, why: str) -> None:
    res = classify(cell("p", "1.2.0"), rep, returncode=returncode, log_tail="last words")
    assert res.status == "error"
    assert why in res.reason
    assert "last words" in res.reason


# -- results files ---------------------------------------------------------------------------

def test_results_round_trip_and_merge(tmp_path: Path) -> None:
    a = classify(cell("p", "1.0.0"), report("native", api="1.0"), returncode=0)
    b = classify(cell("p", "1.1.0"), report("shim", chain=("1.0", "1.1"), api="1.0"),
                 returncode=0)
    part1 = Matrix(("1.0.0",), 1, ["1.0.0"], [{"id": "p"}], {a.cell.key: a}, "t", None, 3.0, 1)
    part2 = Matrix(("1.1.0",), 1, ["1.1.0"], [{"id": "p", "api_version": "1.0"}],
                   {b.cell.key: b}, "t", None, 5.0, 1)
    for name, part in (("one.json", part1), ("two.json", part2)):
        (tmp_path / name).write_text(json.dumps(part.to_json()), encoding="utf-8")
    merged = merge_matrices([load_results(tmp_path / "two.json"),
                             load_results(tmp_path / "one.json")])
    assert list(merged.results) == ["p@1.0.0", "p@1.1.0"]
    assert merged.columns == ["1.0.0", "1.1.0"]
    assert merged.results["p@1.1.0"].chain == ("1.0", "1.1")
    assert merged.plugins == [{"id": "p", "api_version": "1.0"}]


def test_unreadable_results_are_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"version": 3}', encoding="utf-8")
    with pytest.raises(MatrixConfigError, match=r"not a compat-matrix\.json of version 1"):
        load_results(bad)
    with pytest.raises(MatrixConfigError, match="cannot read"):
        load_results(tmp_path / "missing.json")


def test_the_command_lines_vcs_env_wins_over_the_environment() -> None:
    from vcs_conformance._matrix_list import _env_is_current

    assert _env_is_current(["--vcs-env=isolated"], {"VCS_CONFORMANCE_ENV": "current"}) is False
    assert _env_is_current(["--vcs-env", "current"], {}) is True
    assert _env_is_current([], {"VCS_CONFORMANCE_ENV": "current"}) is True
    assert _env_is_current(["--vcs-env=current", "--vcs-env=isolated"], {}) is False
