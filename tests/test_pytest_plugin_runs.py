"""The pytest plugin when things take time: hangs, xdist, where workspaces go.

These runs start plugin workers (and, for xdist, build an isolated env), so
each is a separate ``pytest`` process, as in a plugin author's CI; the
hang and the xdist cases are marked ``slow``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_catalogue_defects import CONFORMING, KitRun, run_kit
from tests.test_pytest_plugin_basics import make_plugin
from vcs_conformance.envs._cache import list_entries

pytest_plugins = ["pytester"]

HANG_INIT = Path(__file__).parent / "fixtures" / "kit" / "hang-init"


# -- 3. a hanging hook fails its check; the run goes on -------------------------------------

@pytest.mark.slow
def test_a_hanging_hook_fails_its_check_and_the_run_goes_on(tmp_path: Path) -> None:
    """The host's clamped 2 s call timeout fires, not pytest-timeout: one check fails."""
    started = time.monotonic()
    run = run_kit(tmp_path, [str(HANG_INIT)], "--vcs-env=current", "--vcs-profile=quick",
                  "-rA", "-k", "register-hooks or init-config or preprocess-invalid or hygiene")
    assert time.monotonic() - started < 300  # one 2 s hang, not 20 shrinking attempts
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.outcomes() == {"register-hooks": "passed", "init-config": "failed",
                              "preprocess-invalid": "passed", "hygiene": "passed"}, run.stdout
    text = run.failure_text("/init-config")
    assert "no answer within 2 s" in text, text
    assert "pytest-timeout" not in text
    # The item's pytest-timeout backstop is built from the clamped 2 s, not the default 60 s.
    checks = run.checks()
    assert checks["init-config"]["examples"] == 1  # a failed check's examples are counted
    assert run.report["plugins"][0]["examples"]["init"] == 1


HANG_IN_THE_KIT = '''
"""A hang the host cannot see (inside the kit's process), and a 2 s timeout for its item."""
import time

import vcs_conformance.pytest_plugin as kit
from hypothesis import strategies as st
from vcs_conformance._checks import _checks_impl
from vcs_conformance._checks._hypo import run_examples

_usual = kit.item_timeout
kit.item_timeout = lambda run, spec, settings: (2.0 if spec.id == "manifest-identity"
                                                else _usual(run, spec, settings))
CALLS = []


def hang(run, spec, result):
    def body(value):
        CALLS.append(value)
        time.sleep(600)

    run_examples(profile="ci", examples=10, seed=None, result=result,
                 strategy=st.integers(), body=body)


_checks_impl.CHECKS["manifest-identity"] = hang


def pytest_sessionfinish(session):
    print(f"\\nhanging calls: {len(CALLS)}")
'''


def test_the_item_timeout_fails_the_item_not_the_run(pytester: pytest.Pytester,
                                                     tmp_path: Path) -> None:
    """pytest-timeout's ``signal`` method: the item fails, the next ones run, the report is
    written (the ``thread`` method would ``os._exit(1)`` the whole run)."""
    pytester.makeconftest(HANG_IN_THE_KIT)
    report = tmp_path / "report.json"
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-v", f"--vcs-plugin={make_plugin(tmp_path)}",
        f"--vcs-report={report}", "-k", "manifest or compat or package-entry-point")
    assert time.monotonic() - started < 120
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*vcs/future-voice/manifest-identity FAILED*",
                                 "*vcs/future-voice/compat-core SKIPPED*",
                                 "*vcs/future-voice/package-entry-point SKIPPED*"])
    # Hypothesis did not go on calling the hanging body once the alarm had fired.
    assert "hanging calls: 1" in result.stdout.str()
    result.stdout.fnmatch_lines(["[[]manifest-identity[]] *future-voice",
                                 "Timeout (>2.0s) from pytest-timeout.*"])
    data = json.loads(report.read_text())
    assert data["plugins"][0]["checks"]["manifest-identity"]["outcome"] == "failed"


def test_item_timeout_sums_the_clamped_call_timeouts(tmp_path: Path) -> None:
    from vcs_conformance._checks._catalogue import BY_ID
    from vcs_conformance._checks._runner import PluginRun
    from vcs_conformance._checks._settings import inactive_settings
    from vcs_conformance.pytest_plugin import (
        ENV_BUILD_ALLOWANCE_S,
        EXTRA_GENERATED_CALLS,
        FIXED_CHECK_CALLS,
        ITEM_TIMEOUT_MARGIN_S,
        TIMEOUT_METHOD,
        call_timeout,
        item_timeout,
    )

    assert TIMEOUT_METHOD == "signal"
    settings = inactive_settings()  # ci: 25 examples, isolated env
    asked = {"0.01": 1.0, "2": 2.0, "99999": 1800.0}  # clamped into the host's [1, 1800]
    for raw, clamped in asked.items():
        project = make_plugin(tmp_path / raw, extra_manifest=f"resources:\n"
                                                             f"  timeout_seconds: {raw}\n")
        run: Any = PluginRun(str(project), settings, None, rootdir=tmp_path)  # type: ignore[arg-type]
        assert call_timeout(run) == clamped
        margin = ITEM_TIMEOUT_MARGIN_S + ENV_BUILD_ALLOWANCE_S
        assert item_timeout(run, BY_ID["hygiene"], settings) == \
            FIXED_CHECK_CALLS * clamped + margin
        assert item_timeout(run, BY_ID["synthesize-valid"], settings) == \
            (25 + EXTRA_GENERATED_CALLS) * clamped + margin
        assert item_timeout(run, BY_ID["shim-equivalence"], settings) == \
            2 * (25 + EXTRA_GENERATED_CALLS) * clamped + margin


# -- 5. -n 2 builds the env once ---------------------------------------------------------------

LOADING = "package-install or register-import or register-hooks or hygiene or preprocess-invalid"


@pytest.mark.slow
def test_xdist_builds_the_isolated_env_once(tmp_path: Path) -> None:
    cache = tmp_path / "env-cache"
    env = {"VCS_CONFORMANCE_CACHE_DIR": str(cache)}
    plugin = [str(CONFORMING / "tone-1-2")]
    parallel = run_kit(tmp_path / "xdist", plugin, "--vcs-env=isolated", "-rA", "-n", "2",
                       "-k", LOADING, env=env)
    assert parallel.ret == pytest.ExitCode.OK, parallel.stdout
    # The controller printed the decision without starting a worker of its own.
    assert "sandbox and env are set up by each xdist worker" in parallel.stdout
    processes = parallel.report["plugins"][0]["info"]["env_processes"]
    assert {p["worker"] for p in processes} == {"gw0", "gw1"}, processes  # both loaded it
    assert [p["cache_hit"] for p in processes].count(False) == 1, processes  # one build
    assert ("  env: gw0 built, gw1 cache hit" in parallel.stdout
            or "  env: gw0 cache hit, gw1 built" in parallel.stdout), parallel.stdout
    assert len(list_entries(cache)) == 1
    envs = cache / "envs"
    assert not list(envs.glob(".building-*"))
    assert len([p for p in envs.iterdir() if p.is_dir()]) == 1
    serial = run_kit(tmp_path / "serial", plugin, "--vcs-env=isolated", "-rA", "-k", LOADING,
                     env=env)
    assert serial.outcomes() == parallel.outcomes()
    assert set(serial.outcomes().values()) == {"passed"}
    assert serial.report["plugins"][0]["info"]["env"]["cache_hit"] is True
    assert len(list_entries(cache)) == 1


# -- 9. workspaces live under --basetemp -------------------------------------------------------

def test_workspaces_live_under_basetemp(tmp_path: Path) -> None:
    run: KitRun = run_kit(tmp_path, [str(CONFORMING / "tone-1-2")], "--vcs-env=current",
                          "-k", "register-import")
    assert run.outcomes() == {"register-import": "passed"}, run.stdout
    basetemp = tmp_path / "tmp"  # run_kit passes --basetemp=<workdir>/tmp
    # pytest's numbered dirs (retention keeps the last runs) plus its "...current" symlink.
    workspaces = sorted(p for p in basetemp.glob("vcs-vcs-tone12-ws*") if not p.is_symlink())
    assert len(workspaces) == 1, sorted(os.listdir(basetemp))
    assert {"cache", "models", "outputs"} <= {p.name for p in workspaces[0].iterdir()}

