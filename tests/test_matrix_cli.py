"""``vcs-conformance matrix ...`` and ``gate``, on synthetic results (no plugin is run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._matrix_data import NATIVE, fail, matrix, shim, skip
from vcs_conformance._cli_matrix import main
from vcs_conformance._matrix import Matrix

FIXTURES = Path(__file__).parent / "fixtures" / "matrix"


@pytest.fixture
def listfile(tmp_path: Path) -> Path:
    (tmp_path / "plug").mkdir()
    path = tmp_path / "plugins.toml"
    path.write_text('cores = ["1.1", "1.2"]\n[[plugin]]\nid = "p"\npath = "plug"\n'
                    'expect = { "1.1" = "pass", "1.2" = "shimmed" }\n', encoding="utf-8")
    return path


def _results(tmp_path: Path, m: Matrix, name: str = "results.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(m.to_json()), encoding="utf-8")
    return path


GOOD = {("p", "1.1.0"): ("1.1", NATIVE), ("p", "1.2.0"): ("1.1", shim(("1.1", "1.2")))}


def test_gate_accepts_then_blocks_a_new_failure_then_reports_the_fix(
        tmp_path: Path, listfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline, out = tmp_path / "ci" / "baseline.json", tmp_path / "out"
    good = _results(tmp_path, matrix(GOOD), "good.json")
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(good),
                 "--update-baseline", "--out", str(out)]) == 0
    assert "baseline updated" in capsys.readouterr().out
    assert json.loads(baseline.read_text())["cells"]["p@1.2.0"] == {"status": "shimmed"}

    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(good),
                 "--out", str(out)]) == 0
    assert "gate: no cell is worse than the baseline" in capsys.readouterr().out

    worse = _results(tmp_path, matrix({**GOOD, ("p", "1.2.0"): ("1.1", {
        "kind": "shim", "chain": ("1.1", "1.2"), "failed": {"shim-equivalence": "differs"}})}),
        "worse.json")
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(worse),
                 "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "BLOCKS: p@1.2.0: new failure(s) shim-equivalence (was shimmed)" in text
    assert "1 cell(s) worse than" in text
    doc = json.loads((out / "compat-matrix.json").read_text())
    assert doc["comparison"]["blocking"] == 1
    assert (out / "compat-matrix.html").is_file() and (out / "compat-matrix.md").is_file()

    # the baseline records the failure on purpose; fixing it later is an improvement
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(worse),
                 "--update-baseline", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(good),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "improved: p@1.2.0" in text and "--update-baseline" in text


def test_gate_without_a_baseline_says_how_to_make_one(
        tmp_path: Path, listfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _results(tmp_path, matrix(GOOD))
    assert main(["gate", str(listfile), "--baseline", str(tmp_path / "none.json"),
                 "--results", str(good), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no baseline file" in err and "--update-baseline" in err
    assert "Traceback" not in err


def test_a_bad_list_is_a_usage_error_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[plugin]]\npath = 'missing'\n", encoding="utf-8")
    assert main(["matrix", "plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[matrix-config-invalid]" in err and "'missing' does not exist" in err


def test_plan_prints_and_appends_the_job_matrix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "github_output"
    assert main(["matrix", "plan", str(FIXTURES / "conformance.toml"),
                 "--github-output", str(output)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["include"]) == 19
    line = output.read_text().strip()
    assert line.startswith("matrix=") and json.loads(line[len("matrix="):]) == printed


def test_expect_checks_one_cell_or_all(tmp_path: Path, listfile: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    off = _results(tmp_path, matrix({("p", "1.1.0"): ("1.1", NATIVE),
                                     ("p", "1.2.0"): ("1.1", skip("too-old-for-window"))}))
    assert main(["matrix", "expect", str(listfile), "--results", str(off),
                 "--cell", "p@1.1"]) == 0
    assert "p@1.1.0: pass (as expected)" in capsys.readouterr().out
    assert main(["matrix", "expect", str(listfile), "--results", str(off)]) == 1
    assert "UNEXPECTED p@1.2.0: expected shimmed, saw skipped (too-old-for-window)" in \
        capsys.readouterr().out


def test_run_verdicts_give_each_cell_its_line(tmp_path: Path, listfile: Path) -> None:
    from vcs_conformance._cli_matrix import _write_verdicts
    from vcs_conformance._matrix_list import load_list

    m = matrix({("p", "1.1.0"): ("1.1", NATIVE),
                ("p", "1.2.0"): ("1.1", skip("too-old-for-window"))})
    out = tmp_path / "v" / "verdicts.json"
    _write_verdicts(out, load_list(listfile), m)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["p@1.1.0"] == {"ok": True, "line": "p@1.1.0: pass (as expected)"}
    assert doc["p@1.2.0"]["ok"] is False
    assert doc["p@1.2.0"]["line"].startswith("UNEXPECTED p@1.2.0: expected shimmed, saw skipped")


def test_merge_joins_fanned_out_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = _results(tmp_path, matrix({("p", "1.1.0"): ("1.1", NATIVE)}), "one.json")
    two = _results(tmp_path, matrix({("p", "1.2.0"): ("1.1", fail("hygiene"))}), "two.json")
    assert main(["matrix", "merge", str(one), str(two), "--out", str(tmp_path / "m")]) == 0
    doc = json.loads((tmp_path / "m" / "compat-matrix.json").read_text())
    assert [c["key"] for c in doc["cells"]] == ["p@1.1.0", "p@1.2.0"]
    assert "p@1.2.0: fail: hygiene" in capsys.readouterr().out


def test_a_listed_cell_missing_from_merged_results_blocks_the_gate(
        tmp_path: Path, listfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    full = _results(tmp_path, matrix(GOOD), "full.json")
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(full),
                 "--update-baseline", "--out", str(tmp_path / "o")]) == 0
    partial = _results(tmp_path, matrix({("p", "1.1.0"): ("1.1", NATIVE)}), "partial.json")
    capsys.readouterr()
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(partial),
                 "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr().out
    assert "BLOCKS: p@1.2.0: new failure(s) (cell-error)" in out
    assert "error: no result for this cell in" in out


def test_the_gate_judges_only_the_cells_of_its_list(
        tmp_path: Path, listfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = _results(tmp_path, matrix({**GOOD, ("p", "1.2.0+w2"): ("1.1", fail("hygiene")),
                                       ("other", "1.2.0"): ("1.2", fail("hygiene"))}))
    baseline = tmp_path / "baseline.json"
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--results", str(extra),
                 "--update-baseline", "--out", str(tmp_path / "o")]) == 0
    assert sorted(json.loads(baseline.read_text())["cells"]) == ["p@1.1.0", "p@1.2.0"]
    doc = json.loads((tmp_path / "o" / "compat-matrix.json").read_text())
    assert doc["columns"] == ["1.1.0", "1.2.0"]
    assert [p["id"] for p in doc["plugins"]] == ["p"]


# -- plugins listed by name ----------------------------------------------------------------

def _named_list(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / "named.toml"
    path.write_text(f'cores = ["1.2"]\n{extra}[[plugin]]\nid = "n"\nname = "{name}"\n',
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["matrix", "run"], ["gate"]])
def test_a_named_plugin_that_is_not_installed_is_one_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    """Before any cell runs: the plugin, the interpreter and how to fix it, exit 2."""
    listfile = _named_list(tmp_path, "vcs-no-such-plugin-anywhere")
    args = [*command, str(listfile), "--out", str(tmp_path / "out")]
    if command == ["gate"]:
        args += ["--baseline", str(tmp_path / "baseline.json")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "plugin[0] 'n' (name = 'vcs-no-such-plugin-anywhere') is not installed" in err
    assert "how to fix: install it where the matrix runs" in err
    assert "VCS_GATE_INSTALL" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "cells").exists()  # nothing ran


def test_a_named_plugin_installed_from_an_index_needs_env_current(tmp_path: Path) -> None:
    """An installed distribution without a local source cannot get an isolated env."""
    from vcs_conformance._matrix_list import check_named_plugins, load_list
    from vcs_conformance.errors import MatrixConfigError

    mlist = load_list(_named_list(tmp_path, "packaging"))  # installed from an index
    with pytest.raises(MatrixConfigError, match="cannot be given an isolated env"):
        check_named_plugins(mlist, environ={})
    check_named_plugins(mlist, environ={"VCS_CONFORMANCE_ENV": "current"})
    check_named_plugins(mlist, pytest_args=["--vcs-env", "current"], environ={})
    current = load_list(_named_list(tmp_path, "packaging",
                                    'pytest_args = ["--vcs-env=current"]\n'))
    check_named_plugins(current, environ={})
    # a cell selection without the named plugin does not look it up
    check_named_plugins(mlist, [], environ={})


def test_an_unwritable_verdicts_path_stops_before_any_cell_runs(
        tmp_path: Path, listfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "verdicts-dir").mkdir()
    assert main(["matrix", "run", str(listfile), "--out", str(tmp_path / "out"),
                 "--verdicts", str(tmp_path / "verdicts-dir")]) == 2
    assert "--verdicts" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing ran
