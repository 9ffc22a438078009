"""End to end: the real matrix on the fixture plugins, the gate, a real regression caught.

These run pytest with the kit's pytest plugin on every cell (isolated envs,
sandboxed workers), so they are slow; the unit tests of the same logic on
synthetic reports are in test_matrix*.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vcs_conformance._cli_matrix import main
from vcs_conformance._matrix import Matrix, run_matrix
from vcs_conformance._matrix_list import load_list
from vcs_conformance._matrix_verdicts import check_expectations, suggest

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "matrix"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Matrix, Path]:
    out = tmp_path_factory.mktemp("conformance-matrix")
    return run_matrix(load_list(FIXTURES / "conformance.toml"), out), out


def test_every_cell_of_the_kits_matrix_is_as_expected(measured: tuple[Matrix, Path]) -> None:
    matrix, out = measured
    mlist = load_list(FIXTURES / "conformance.toml")
    mismatches = check_expectations(mlist, matrix)
    assert mismatches == [], "\n".join(m.render() for m in mismatches)
    w2 = matrix.results["api-1-0@1.2.0+w2"]
    assert w2.chain == ("1.0", "1.1", "1.2")
    assert "2 minor versions behind" in matrix.results["api-1-0@1.2.0"].reason
    # every shimmed cell proved its chain with the differential check
    for res in matrix.results.values():
        if res.status == "shimmed":
            assert res.report is not None
            checks = json.loads((out / res.report).read_text())["plugins"][0]["checks"]
            assert checks["shim-equivalence"]["outcome"] == "passed", res.cell.key
            assert checks["shim-equivalence"]["node"].endswith("[" + "-".join(res.chain) + "]")
            assert res.shim_check == "passed", res.cell.key


def test_suggestions_match_what_the_fixtures_declare(measured: tuple[Matrix, Path]) -> None:
    by_plugin = {s.plugin: s for s in suggest(measured[0])}
    assert by_plugin["api-1-1"].native == ("1.1.0",)
    assert by_plugin["api-1-1"].shimmed == ("1.2.0",)
    assert by_plugin["api-1-1"].matches_declared
    # core 1.2 serves the 1.0 plugin only with window 2: reported apart, not as support
    assert by_plugin["api-1-0"].shimmed == ("1.1.0",)
    assert by_plugin["api-1-0"].widened == (("1.2.0", 2),)
    assert by_plugin["api-1-0"].refused == ("1.2.0",)
    assert any("core 1.2.0 serves it only with shim window 2" in n and "too-old-for-window" in n
               for n in by_plugin["api-1-0"].notes)
    assert (by_plugin["api-1-3"].api_version, by_plugin["api-2-0"].core_version) == (None, None)
    assert by_plugin["example"].core_version == ">=1.2,<2"


def test_the_committed_gate_baseline_holds(measured: tuple[Matrix, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, out = measured
    code = main(["gate", str(FIXTURES / "gate.toml"), "--baseline",
                 str(FIXTURES / "gate-baseline.json"), "--results",
                 str(out / "compat-matrix.json"), "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().out
    assert (tmp_path / "compat-matrix.html").is_file()


def test_the_gate_catches_a_real_regression(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A 1.1 plugin whose synthesize starts lying about its sample rate blocks the gate."""
    plugin = tmp_path / "plug"
    shutil.copytree(FIXTURES / "plugins" / "api-1-1", plugin)
    code = plugin / "vcs_matrix_api11" / "plugin.py"
    listfile = tmp_path / "gate.toml"
    listfile.write_text('cores = ["1.1"]\npytest_args = ["--vcs-profile=quick"]\n'
                        '[[plugin]]\nid = "p"\npath = "plug"\n', encoding="utf-8")
    baseline = tmp_path / "baseline.json"
    assert main(["gate", str(listfile), "--baseline", str(baseline), "--update-baseline",
                 "--out", str(tmp_path / "before")]) == 0
    assert '"status": "pass"' in baseline.read_text()
    source = code.read_text(encoding="utf-8")
    broken = source.replace('return {"audio": name, "sample_rate": rate,',
                            'return {"audio": name, "sample_rate": rate + 1,')
    assert broken != source
    code.write_text(broken, encoding="utf-8")
    capsys.readouterr()
    assert main(["gate", str(listfile), "--baseline", str(baseline),
                 "--out", str(tmp_path / "after")]) == 1
    out = capsys.readouterr().out
    assert "BLOCKS: p@1.1.0: new failure(s)" in out
    assert "synthesize-valid" in out
