"""The pytest plugin's interface, run through ``pytester`` like a plugin author would.

These tests need no worker: they cover activation, option/ini/env
precedence, expectations files and the incompatible-plugin path, whose
checks are decided from the manifest and the built wheel alone.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def make_plugin(root: Path, *, name: str = "future-voice", api: str = "1.3",
                extra_manifest: str = "") -> Path:
    """A minimal plugin project targeting ``api``."""
    project = root / name
    pkg = project / name.replace("-", "_")
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(textwrap.dedent("""
        def register(registry):
            return {"synthesize": lambda text, voice_config: None}
    """))
    (pkg / "vcs_plugin.yaml").write_text(
        f'name: {name}\nversion: "0.1.0"\ndescription: A test plugin\n'
        f'api_version: "{api}"\n{extra_manifest}')
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "{name}"
        version = "0.1.0"
        [project.entry-points."vcs.plugins"]
        {name} = "{name.replace('-', '_')}.plugin"
        [tool.hatch.build.targets.wheel]
        packages = ["{name.replace('-', '_')}"]
    """))
    return project


def test_inert_without_vcs_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "vcs-conformance:" not in result.stdout.str()  # no header line, no summary


def test_incompatible_plugin_is_skipped_with_the_rule(pytester: pytest.Pytester,
                                                      tmp_path: Path) -> None:
    project = make_plugin(tmp_path)
    report = tmp_path / "report.json"
    result = pytester.runpytest("-v", "-rs", f"--vcs-plugin={project}", "--vcs-env=current",
                                f"--vcs-report={report}", "-W", "default")
    out = result.stdout.str()
    # Header: core, plugin target and the compat decision.
    assert "vcs-conformance: core 1.2.0" in out
    assert "plugin future-voice 0.1.0, targets API 1.3: incompatible (needs-newer-core)" in out
    # Node ids carry the check id; the manifest checks (before compat-core) still ran.
    for check in ("manifest-present", "manifest-schema", "manifest-identity"):
        assert f"vcs/future-voice/{check} PASSED" in out
    # SPEC 7: every check after compat-core is skipped with its reason, the
    # packaging checks included.
    for check in ("compat-core", "package-entry-point", "synthesize-valid"):
        assert f"vcs/future-voice/{check} SKIPPED" in out
    assert "plugin targets API 1.3, newer than API 1.2 of core 1.2.0" in out
    assert "VCSCompatibilityWarning" in out
    result.assert_outcomes(passed=3, skipped=15)  # shim-equivalence is not an item here
    data = json.loads(report.read_text())
    plugin = data["plugins"][0]
    assert plugin["counts"] == {"passed": 3, "skipped": 15}
    for check in ("package-entry-point", "train-valid"):
        assert "(needs-newer-core): plugin targets API 1.3" in plugin["checks"][check]["reason"]
    assert plugin["info"]["decision"]["rule"] == "needs-newer-core"


def test_strict_compat_fails_instead(pytester: pytest.Pytester, tmp_path: Path) -> None:
    project = make_plugin(tmp_path, api="2.0")
    result = pytester.runpytest(f"--vcs-plugin={project}", "--vcs-env=current",
                                "--vcs-strict-compat", "-k", "compat")
    result.assert_outcomes(failed=1, deselected=17)
    result.stdout.fnmatch_lines(["*expected a plugin compatible with core 1.2.0*",
                                 "*major versions differ*"])


def test_k_selects_by_check_id(pytester: pytest.Pytester, tmp_path: Path) -> None:
    project = make_plugin(tmp_path)
    result = pytester.runpytest("--collect-only", "-q", f"--vcs-plugin={project}",
                                "-k", "manifest")
    result.stdout.fnmatch_lines(["vcs/future-voice/manifest-present",
                                 "vcs/future-voice/manifest-schema",
                                 "vcs/future-voice/manifest-identity"])
    assert "synthesize" not in result.stdout.str()


def test_ini_env_and_cli_precedence(pytester: pytest.Pytester, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_plugin(tmp_path)
    pytester.makeini(f"[pytest]\nvcs_plugin = {project}\nvcs_core_version = 1.1.0\n"
                     "vcs_profile = quick\n")
    result = pytester.runpytest("--collect-only")
    result.stdout.fnmatch_lines(["*core 1.1.0*profile quick (10 examples/check)*",
                                 "collected 18 items"])
    monkeypatch.setenv("VCS_CONFORMANCE_CORE_VERSION", "1.0.0")
    result = pytester.runpytest("--collect-only")
    result.stdout.fnmatch_lines(["*core 1.0.0*"])
    result = pytester.runpytest("--collect-only", "--vcs-core-version=1.2.0",
                                "--vcs-examples=7")
    result.stdout.fnmatch_lines(["*core 1.2.0*profile quick (7 examples/check)*"])


def test_bad_env_value_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_CONFORMANCE_SHIM_WINDOW", "lots")
    result = pytester.runpytest(f"--vcs-plugin={make_plugin(tmp_path)}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*VCS_CONFORMANCE_SHIM_WINDOW: 'lots' is not a valid int*"])
    assert "Traceback" not in result.stderr.str()


def test_plugin_env_var_does_not_activate(pytester: pytest.Pytester, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_CONFORMANCE_PLUGIN", str(make_plugin(tmp_path)))
    pytester.makepyfile("def test_ok():\n    assert True\n")
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(("content", "message"), [
    ("expectations:\n  synthesise-valid: {reason: typo}\n", "'synthesise-valid' is not a check id"),
    ("expectations:\n  hygiene: {}\n", "'reason' is a required property"),
    ("expectations: [1\n", "not valid YAML"),
    ("expectations:\n  hygiene: {reason: x, cores: [latest]}\n", "does not match"),
])
def test_bad_expectations_file(pytester: pytest.Pytester, tmp_path: Path, content: str,
                               message: str) -> None:
    expect = tmp_path / "expect.yaml"
    expect.write_text(content)
    result = pytester.runpytest(f"--vcs-plugin={make_plugin(tmp_path)}",
                                f"--vcs-expect={expect}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert str(expect) in result.stderr.str()


def test_expected_failure_is_xfail_and_stale_entry_fails(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    project = make_plugin(tmp_path, api="2.0")
    expect = tmp_path / "expect.yaml"
    expect.write_text("expectations:\n"
                      "  compat-core: {reason: 'we target 2.0 on purpose', issue: 'X-1'}\n"
                      "  manifest-schema: {reason: 'stale: it passes now'}\n")
    result = pytester.runpytest("-rxs", f"--vcs-plugin={project}", "--vcs-strict-compat",
                                f"--vcs-expect={expect}", "-k", "compat or manifest-schema")
    result.assert_outcomes(xfailed=1, failed=1, deselected=16)
    result.stdout.fnmatch_lines([
        "*manifest-schema was expected to fail (stale: it passes now) but passed: "
        "delete its entry from*",
        "XFAIL vcs/future-voice/compat-core - expected failure: we target 2.0 on purpose (X-1)"])


def test_update_expect_rewrites_the_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    project = make_plugin(tmp_path, api="2.0")
    expect = tmp_path / "expect.yaml"
    expect.write_text("expectations:\n  manifest-schema: {reason: 'stale'}\n")
    pytester.runpytest(f"--vcs-plugin={project}", "--vcs-strict-compat",
                       f"--vcs-expect={expect}", "--vcs-update-expect", "-k",
                       "compat or manifest-schema")
    text = expect.read_text()
    assert "compat-core" in text and "manifest-schema" not in text


def test_min_checks_fails_a_run_where_too_little_ran(pytester: pytest.Pytester,
                                                     tmp_path: Path) -> None:
    project = make_plugin(tmp_path)
    result = pytester.runpytest(f"--vcs-plugin={project}", "--vcs-min-checks=10")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*only 3 checks ran*fewer than --vcs-min-checks=10*"])


def test_unknown_suite_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = pytester.runpytest(f"--vcs-plugin={make_plugin(tmp_path)}", "--vcs-suite=0.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown suite version '0.1'" in result.stderr.str()


@pytest.mark.parametrize(("plugin", "message"), [
    ("/no/such/plugin", "--vcs-plugin=/no/such/plugin: no such project directory, wheel or sdist"),
    ("no-such-distribution", "no installed distribution or vcs.plugins entry point"),
])
def test_a_plugin_that_names_nothing_is_a_usage_error(pytester: pytest.Pytester, plugin: str,
                                                      message: str) -> None:
    """Not 18 skips and exit 0: a green run in which nothing ran."""
    result = pytester.runpytest(f"--vcs-plugin={plugin}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_unwritable_report_fails_before_the_run(pytester: pytest.Pytester,
                                                tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = pytester.runpytest(f"--vcs-plugin={make_plugin(tmp_path)}",
                                f"--vcs-report={blocker}/report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--vcs-report={blocker}/report.json: cannot create" in result.stderr.str()
