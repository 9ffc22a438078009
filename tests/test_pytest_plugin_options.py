"""The pytest plugin's options, outputs and bookkeeping, run through ``pytester``.

No test here starts a plugin worker: the plugins are incompatible or only
their manifest checks are selected, so each run decides everything from the
manifest and the built wheel and takes about a second.  Runs that touch
process-global state (``--hypothesis-seed`` sets hypothesis' global seed, the
injected catalogue entry) use ``runpytest_subprocess`` so nothing leaks
into this session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.test_pytest_plugin_basics import make_plugin
from vcs_conformance import schemas
from vcs_conformance._checks._catalogue import CATALOGUE, CHECK_IDS
from vcs_conformance._checks._expect import Expectation, write_expectations
from vcs_conformance._checks._report import Accounting

pytest_plugins = ["pytester"]


# -- 1. inert unless asked, and clear when asked ---------------------------------------

@pytest.mark.parametrize(("args", "env"), [
    (["--hypothesis-seed=abc"], {}),
    ([], {"VCS_CONFORMANCE_SHIM_WINDOW": "lots", "VCS_CONFORMANCE_EXAMPLES": "-3",
          "VCS_CONFORMANCE_PROFILE": "fastest"}),
    ([], {"VCS_CONFORMANCE_REPLAY": "/no/such/bundle.json"}),
])
def test_an_unrelated_suite_is_never_disturbed(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch,
                                               args: list[str], env: dict[str, str]) -> None:
    """Nothing of the kit is parsed while it is off; a stray variable never switches it on."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "vcs-conformance:" not in result.stdout.str()  # no header line, no summary


def test_string_hypothesis_seed_is_taken_as_hypothesis_takes_it(pytester: pytest.Pytester,
                                                                tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--hypothesis-seed=abc", f"--vcs-report={report}",
        f"--vcs-plugin={make_plugin(tmp_path)}", "-k", "manifest-present")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    result.stdout.fnmatch_lines(["vcs-conformance: core 1.2.0*, hypothesis seed 'abc'"])
    assert json.loads(report.read_text())["settings"]["seed"] == "abc"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "--hypothesis-seed=42",
        f"--vcs-plugin={make_plugin(tmp_path, name='other-voice')}")
    result.stdout.fnmatch_lines(["vcs-conformance: core 1.2.0*, hypothesis seed 42"])


@pytest.mark.parametrize(("args", "ini", "message"), [
    (["--vcs-examples=0"], "", "--vcs-examples=0: must be at least 1"),
    (["--vcs-examples-train=0"], "", "--vcs-examples-train=0: must be at least 1"),
    (["--vcs-shim-window=-1"], "", "--vcs-shim-window=-1: must be at least 0"),
    ([], "vcs_min_checks = many\n", "ini vcs_min_checks: 'many' is not a valid int"),
    ([], "vcs_strict_compat = maybe\n", "ini vcs_strict_compat"),
    ([], "vcs_profile = fastest\n", "'fastest' is not one of quick, ci, nightly, dev"),
])
def test_a_bad_value_of_an_active_kit_is_a_usage_error(pytester: pytest.Pytester,
                                                       tmp_path: Path, args: list[str],
                                                       ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\nvcs_plugin = {make_plugin(tmp_path)}\n{ini}")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_replay_ini_key_switches_the_kit_on(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Only ``--vcs-replay`` or ``vcs_replay`` (never the environment) starts a replay."""
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    pytester.makeini(f"[pytest]\nvcs_replay = {bundle}\n")
    result = pytester.runpytest("--collect-only", "-q")
    # The kit is on: it read the bundle (before the run) and says what is wrong with it.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{bundle}: missing*"])


# -- 4. JUnit XML properties ---------------------------------------------------------------

def test_junit_xml_carries_check_api_core_decision_and_shim_chain(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    plugins = {"new-voice": "1.3", "old-voice": "1.1", "same-voice": "1.2"}
    handles = [make_plugin(tmp_path, name=name, api=api) for name, api in plugins.items()]
    xml = tmp_path / "junit.xml"
    result = pytester.runpytest(*(f"--vcs-plugin={h}" for h in handles), f"--junitxml={xml}",
                                "--vcs-env=current", "-k", "manifest-schema or compat-core")
    result.assert_outcomes(passed=5, skipped=1)
    cases = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cases[(props["vcs_plugin"], props["vcs_check"])] = props
    assert set(cases) == {(p, c) for p in plugins for c in ("manifest-schema", "compat-core")}
    for name, api in plugins.items():
        props = cases[(name, "manifest-schema")]
        assert props["vcs_api"] == api and props["vcs_core"] == "1.2.0"
    assert cases[("old-voice", "compat-core")]["vcs_shim_chain"] == "1.1->1.2"
    assert cases[("same-voice", "compat-core")]["vcs_shim_chain"] == "native"
    assert cases[("new-voice", "compat-core")]["vcs_shim_chain"] == "none"
    assert cases[("old-voice", "compat-core")]["vcs_decision"].startswith("shim")
    assert cases[("same-voice", "compat-core")]["vcs_decision"] == "native"
    assert "incompatible" in cases[("new-voice", "compat-core")]["vcs_decision"]


# -- 7. --vcs-update-expect keeps what this run cannot judge ------------------------------

def test_update_expect_keeps_entries_this_run_does_not_cover(pytester: pytest.Pytester,
                                                             tmp_path: Path) -> None:
    new = make_plugin(tmp_path, name="future-voice", api="2.0")
    fine = make_plugin(tmp_path, name="fine-voice", api="1.2")
    expect = tmp_path / "expect.yaml"
    expect.write_text(yaml.safe_dump({"expectations": {
        "manifest-present": {"reason": "stale: passes on core 1.2.0 for every plugin"},
        "manifest-identity": {"reason": "only on core 1.0", "cores": ["1.0"]},
        "manifest-schema": {"reason": "only for another plugin", "plugins": ["elsewhere"]},
        "hygiene": {"reason": "not run by this -k", "issue": "X-9"},
    }}))
    result = pytester.runpytest(f"--vcs-plugin={new}", f"--vcs-plugin={fine}",
                                "--vcs-strict-compat", f"--vcs-expect={expect}",
                                "--vcs-env=current", "--vcs-update-expect", "-k",
                                "manifest or compat")
    # manifest-present was expected to fail and passed: the stale-entry rule fails it.
    result.assert_outcomes(passed=5, failed=3)
    data = yaml.safe_load(expect.read_text())["expectations"]
    assert set(data) == {"manifest-identity", "manifest-schema", "hygiene", "compat-core"}
    assert data["manifest-identity"] == {"reason": "only on core 1.0", "cores": ["1.0"]}
    assert data["manifest-schema"]["plugins"] == ["elsewhere"]
    assert data["hygiene"] == {"reason": "not run by this -k", "issue": "X-9"}
    # A new failure on one of two plugins is recorded for that plugin only.
    assert data["compat-core"]["plugins"] == ["future-voice"]
    # The rewritten file is valid and loads again.
    result = pytester.runpytest(f"--vcs-plugin={new}", f"--vcs-plugin={fine}",
                                "--vcs-strict-compat", f"--vcs-expect={expect}",
                                "--vcs-env=current", "-k", "compat")
    result.assert_outcomes(passed=1, xfailed=1)


def test_write_expectations_drops_only_entries_that_passed_where_they_apply(
        tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    old = {
        "hygiene": Expectation("hygiene", "on 1.1 only", cores=("1.1",)),
        "train-valid": Expectation("train-valid", "stale"),
        "init-config": Expectation("init-config", "for a", plugins=("a",)),
        "synthesize-valid": Expectation("synthesize-valid", "fails on a, passes on b"),
    }
    verdicts = {"hygiene": {"a": "passed"}, "train-valid": {"a": "passed", "b": "passed"},
                "init-config": {"b": "passed"},
                "synthesize-valid": {"a": "failed", "b": "passed"},
                "preprocess-valid": {"a": "failed", "b": "failed"}}
    write_expectations(path, old, verdicts, "1.2.0")
    data = yaml.safe_load(path.read_text())["expectations"]
    assert set(data) == {"hygiene", "init-config", "synthesize-valid", "preprocess-valid"}
    assert "plugins" not in data["preprocess-valid"]  # failed everywhere it ran


# -- 8. coverage accounting ------------------------------------------------------------------

def test_summary_counts_each_plugins_own_catalogue_and_report_validates(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    new = make_plugin(tmp_path, name="new-voice", api="1.3")
    old = make_plugin(tmp_path, name="old-voice", api="1.1")
    report = tmp_path / "report.json"
    result = pytester.runpytest(f"--vcs-plugin={new}", f"--vcs-plugin={old}",
                                f"--vcs-report={report}", "--vcs-env=current",
                                "-k", "manifest-present or compat")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines([
        "*= vcs-conformance =*",
        "new-voice: catalogue 18, 1 passed, 1 skipped",
        "  skipped compat-core: incompatible with core 1.2.0 (needs-newer-core)*",
        "old-voice: catalogue 19, 2 passed",  # shim-equivalence applies: 19
    ])
    data = json.loads(report.read_text())
    errors = list(schemas.validator("report").iter_errors(data))
    assert not errors, [e.message for e in errors]
    assert {p["plugin"]: p["catalogue"] for p in data["plugins"]} == {"new-voice": 18,
                                                                      "old-voice": 19}


class _Report:
    """The parts of a ``TestReport`` the accounting reads."""

    def __init__(self, outcome: str, when: str = "call") -> None:
        self.when = when
        self.nodeid = "vcs/p/synthesize-valid"
        self.duration = 0.5
        self.passed, self.failed, self.skipped = (outcome == o for o in
                                                  ("passed", "failed", "skipped"))
        self.longrepr = "expected ...\nsaw ..." if outcome == "failed" else None


def test_examples_of_failed_checks_are_counted() -> None:
    accounting = Accounting()
    props = {"vcs_plugin": "p", "vcs_check": "synthesize-valid", "vcs_outcome": "failed",
             "vcs_examples": 17}
    accounting.record(_Report("failed"), props)  # type: ignore[arg-type]
    assert accounting.plugins["p"].examples == {"synthesize": 17}
    assert accounting.summary_lines({"p": 18})[:2] == [
        "p: catalogue 18, 1 failed", "  hypothesis examples run: synthesize 17"]


# -- 9. the catalogue, suites, markers, selection ---------------------------------------------

def test_checks_command_lists_the_catalogue() -> None:
    run = subprocess.run([sys.executable, "-m", "vcs_conformance", "checks"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(CATALOGUE)
    for spec, line in zip(CATALOGUE, lines, strict=True):
        assert line.split()[0] == spec.id
        assert f"suite {spec.suite}" in line and spec.description in line
    as_json = subprocess.run([sys.executable, "-m", "vcs_conformance", "checks", "--format",
                              "json"], capture_output=True, text=True, timeout=120, check=False)
    rows = json.loads(as_json.stdout)
    assert [r["id"] for r in rows] == list(CHECK_IDS)
    assert all(r["binding"] for r in rows)
    assert {r["id"]: r["needs"] for r in rows}["package-entry-point"] == ["compat-core"]
    bad = subprocess.run([sys.executable, "-m", "vcs_conformance", "checks", "--suite", "0.1"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "unknown suite version '0.1'" in bad.stdout


NEWER_CHECK = '''
"""Inject a check introduced by suite 1.1, which fails, into the catalogue."""
from vcs_conformance._checks import _catalogue, _checks_impl
from vcs_conformance._checks._catalogue import CheckSpec
from vcs_conformance._checks._outcome import CheckFailed

SPEC = CheckSpec("manifest-newer", "manifest", "a rule added by suite 1.1", suite="1.1")
_catalogue.SUITE_VERSIONS = ("1.0", "1.1")
_catalogue.CATALOGUE = (*_catalogue.CATALOGUE, SPEC)
_catalogue.BY_ID[SPEC.id] = SPEC


def newer(run, spec, result):
    raise CheckFailed("the suite 1.1 rule", "the plugin breaks it")


_checks_impl.CHECKS[SPEC.id] = newer
'''


def test_a_check_newer_than_the_pinned_suite_warns_instead_of_failing(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(NEWER_CHECK)
    project = make_plugin(tmp_path)
    pinned = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--vcs-plugin={project}",
                                           "--vcs-suite=1.0", "-k", "manifest",
                                           "-W", "default")
    pinned.assert_outcomes(passed=4)
    assert pinned.ret == pytest.ExitCode.OK
    pinned.stdout.fnmatch_lines(["*VCSNewCheckWarning: manifest-newer (suite 1.1, newer than "
                                 "the pinned suite 1.0) failed*"])
    current = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--vcs-plugin={project}",
                                            "--vcs-suite=1.1", "-k", "manifest")
    current.assert_outcomes(passed=3, failed=1)
    current.stdout.fnmatch_lines(["*saw the plugin breaks it*"])


def test_area_markers_select(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q", f"--vcs-plugin={make_plugin(tmp_path)}",
                                "-m", "vcs_manifest or vcs_compat")
    result.stdout.fnmatch_lines(["vcs/future-voice/manifest-present",
                                 "vcs/future-voice/manifest-schema",
                                 "vcs/future-voice/manifest-identity",
                                 "vcs/future-voice/compat-core",
                                 "*4/18 tests collected (14 deselected)*"])
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vcs_synthesize: VCS conformance checks of area "
                                 "synthesize"])


def test_kit_items_run_beside_the_repositorys_own_tests(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = pytester.runpytest("-v", f"--vcs-plugin={make_plugin(tmp_path)}",
                                "-k", "own or manifest-present")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_own.py::test_own PASSED*",
                                 "*vcs/future-voice/manifest-present PASSED*"])


@pytest.mark.parametrize(("core", "outcome"), [("1.1.0", "xfailed"), ("1.2.0", "failed")])
def test_expectations_are_filtered_by_core(pytester: pytest.Pytester, tmp_path: Path,
                                           core: str, outcome: str) -> None:
    expect = tmp_path / "expect.yaml"
    expect.write_text("expectations:\n  compat-core: {reason: 'only on 1.1', cores: ['1.1']}\n")
    result = pytester.runpytest(f"--vcs-plugin={make_plugin(tmp_path, api='2.0')}",
                                "--vcs-strict-compat", f"--vcs-expect={expect}",
                                f"--vcs-core-version={core}", "-k", "compat")
    result.assert_outcomes(**{outcome: 1})
