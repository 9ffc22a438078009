"""``vcs-conformance validate``: verdicts, compiler-style output, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vcs_conformance.cli import main

from .test_manifest import FIXTURES, INVALID


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_fixture_exit_1_and_located_message(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line, column, _pointer, words, _hint = INVALID[case]
    assert main(["validate", str(FIXTURES / case)]) == 1
    out = capsys.readouterr().out
    path = FIXTURES / case / "vcs_plugin.yaml"
    position = f"{path}:{line}:{column or 1}: error: "
    assert any(ln.startswith(position) and words in ln for ln in out.splitlines()), out


@pytest.mark.parametrize("case", ["valid-minimal", "valid-full", "valid-config-file"])
def test_valid_fixture_exit_0(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIXTURES / case)]) == 0
    assert "ok: my-plugin 1.0.0 (API 1.2)" in capsys.readouterr().out


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--format", "json", str(FIXTURES / "valid-minimal"),
                 str(FIXTURES / "unknown-key")])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 1
    first, second = report["results"]
    assert first["status"] == "valid" and first["manifest"]["api_version"] == "1.2"
    assert second["status"] == "invalid"
    assert second["problems"][0] == {
        "file": str(FIXTURES / "unknown-key" / "vcs_plugin.yaml"), "line": 5, "column": 1,
        "pointer": "/sampel_rates", "message": "unknown key 'sampel_rates'",
        "hint": "did you mean 'sample_rates'?"}


def test_unreadable_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file or directory" in capsys.readouterr().out
    # An invalid manifest beside an unreadable one: the worse code wins.
    assert main(["validate", str(FIXTURES / "empty"), str(tmp_path / "missing.yaml")]) == 2


def test_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    assert main(["no-such-command"]) == 2


def test_identity_is_checked_for_projects(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "vcs_plugin.yaml").write_text((FIXTURES / "valid-minimal" / "vcs_plugin.yaml")
                                         .read_text())
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "other"\nversion = "2.0"\n'
        '[project.entry-points."vcs.plugins"]\nother = "pkg.plugin"\n')
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "name 'my-plugin' is not the distribution's name 'other'" in out
    assert "version '1.0.0' is not the distribution's version '2.0'" in out


def test_console_script_runs_as_a_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "vcs_conformance", "validate",
                           str(FIXTURES / "api-version-float")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert 'quote it: api_version: "1.10"' in proc.stdout
    assert "Traceback" not in proc.stderr
