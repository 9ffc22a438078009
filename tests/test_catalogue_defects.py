"""The check catalogue catches every way a plugin can be wrong (issue 6, "Tests").

Each fixture of ``tests/fixtures/defective/`` breaks one rule; the kit runs
on it exactly as a plugin author's CI would (a separate ``pytest`` process,
``--vcs-env=current``, the strict sandbox, the default derandomized ``ci``
profile) and we assert *exactly* which check ids fail: the defect's own id,
plus only the ids SPEC 7 says a defect of that kind also breaks (a broken
Dataset or Model also breaks ``lifecycle-pipeline``, the end-to-end chain).
Users xfail by id (``--vcs-expect``), so a defect that spills into unrelated
ids is a kit bug: those cases are ``xfail(strict=True)`` with the diagnosis.

One kit run per fixture, shared by every test that reads it (session cache;
with pytest-xdist use ``--dist loadgroup`` so a fixture's tests share a worker).
Runs that take longer than a few seconds (any hook defect: the kit generates
and shrinks real datasets and WAVs) are marked ``slow``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._checks._bundle import workspace_paths
from vcs_conformance._checks._catalogue import CHECK_IDS
from vcs_conformance.envs._install import find_tools

HERE = Path(__file__).parent
DEFECTIVE = HERE / "fixtures" / "defective"
CONFORMING = HERE / "fixtures" / "conforming"

#: The kit's run: what a plugin author's CI runs (besides the per-case options).
BASE_OPTIONS = ("--vcs-env=current", "--vcs-sandbox=strict", "-rA", "-W", "default")


# -- running the kit -----------------------------------------------------------------

@dataclass(frozen=True)
class KitRun:
    """One ``pytest --vcs-plugin`` process: exit code, output, JSON report, bundles."""

    ret: int
    stdout: str
    report: dict[str, Any]
    repro: Path

    def checks(self, plugin: int = 0) -> dict[str, dict[str, Any]]:
        return dict(self.report["plugins"][plugin]["checks"])

    def outcomes(self, plugin: int = 0) -> dict[str, str]:
        return {check: entry["outcome"] for check, entry in self.checks(plugin).items()}

    def failed(self, plugin: int = 0) -> set[str]:
        return {c for c, o in self.outcomes(plugin).items() if o in ("failed", "error")}

    def failure_text(self, node_fragment: str) -> str:
        """The ``FAILURES`` section of the item whose node id contains ``node_fragment``."""
        sections = re.split(r"\n_{3,} (\S+) _{3,}\n", self.stdout)
        for head, body in zip(sections[1::2], sections[2::2], strict=True):
            if node_fragment in head:
                return body
        raise AssertionError(f"no failure section for {node_fragment!r} in:\n{self.stdout}")

    def item_lines(self) -> dict[str, str]:
        """``-rA`` summary: node id -> PASSED/FAILED/SKIPPED (skips are grouped: ignored)."""
        found = re.findall(r"^(PASSED|FAILED|ERROR) (vcs/\S+)", self.stdout, re.M)
        return {node: word for word, node in found}


def run_kit(workdir: Path, plugins: list[str], *options: str,
            env: dict[str, str] | None = None, conftest: str | None = None) -> KitRun:
    """Run the kit in a fresh pytest process rooted at ``workdir``.

    A separate process, as in a plugin author's CI: the kit keeps per-process
    state (runners, built wheels) that an in-process pytester run would share.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pytest.ini").write_text("[pytest]\n")
    if conftest is not None:
        (workdir / "conftest.py").write_text(conftest)
    report, repro = workdir / "report.json", workdir / "repro"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(workdir),
           f"--basetemp={workdir / 'tmp'}", f"--vcs-report={report}",
           f"--vcs-repro-dir={repro}", *(f"--vcs-plugin={p}" for p in plugins), *options]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **(env or {})}, check=False)
    assert report.is_file(), f"no report; stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return KitRun(proc.returncode, proc.stdout + proc.stderr,
                  json.loads(report.read_text(encoding="utf-8")), repro)


# -- the cases -------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    fixture: str
    #: The check the defect is about (README.md's "check id that must fail").
    check: str
    #: Exactly the ids SPEC 7 says must fail (the defect's own, plus end-to-end fallout).
    fails: frozenset[str]
    #: A fragment of the failure message that shows the kit saw *this* defect.
    seen: str
    options: tuple[str, ...] = ()
    #: The kit fails more ids than ``fails``: why (the exactness test is xfail strict).
    kit_bug: str | None = None
    slow: bool = True
    #: The failing check made a plugin call, so it wrote a replay bundle.
    replayable: bool = True
    #: Run on the built wheel instead of the project directory.
    as_wheel: bool = False

    def __str__(self) -> str:
        return self.fixture


def _case(fixture: str, check: str, seen: str, *also: str, **kw: Any) -> Case:
    return Case(fixture, check, frozenset({check, *also}), seen, **kw)


LIFE = "lifecycle-pipeline"
# Kit bugs, diagnosed (see the report to the lead).
HYGIENE_JUDGES_OUTPUT = (
    "kit bug: _checks_impl.hygiene makes its probe calls through PluginRun.call, which turns "
    "every VCSError (here the host's OutputInvalid for the Dataset/Result) into CheckFailed, "
    "so an output defect that preprocess-valid/synthesize-valid already report also fails "
    "hygiene, whose rule is only processes, writes and JSON")
TRAIN_CROSS_ATTRIBUTION = (
    "kit bug: the host validates train's progress events and Model together and raises "
    "OutputInvalid/HookError; PluginRun.call turns it into CheckFailed for every train call, "
    "so train-progress fails on a Model/crash defect and train-valid on a progress defect "
    "(train_valid ignores events, train_progress says a non-progress outcome is "
    "train-valid's finding: _checks_impl._train should classify the host error by cause)")
DISCOVER_AS_IMPORT = (
    "kit bug: _checks_impl._load_stage maps a PluginLoadError of stage 'discover' (two "
    "vcs.plugins entry points) to 'import', so register-import fails too although "
    "package-entry-point already reports the packaging defect")

CASES: tuple[Case, ...] = (
    _case("manifest-not-in-wheel", "manifest-present", "no vcs_plugin.yaml", slow=False,
          replayable=False),
    _case("manifest-unknown-key", "manifest-schema", "voice", slow=False, replayable=False),
    _case("manifest-version-mismatch", "manifest-identity", "0.2.0", replayable=False),
    _case("needs-newer-core", "compat-core", "core-version-excluded",
          options=("--vcs-strict-compat",), slow=False, replayable=False),
    _case("two-entry-points", "package-entry-point", "2:", slow=False, replayable=False),
    _case("entry-point-misnamed", "package-entry-point", "'tone'", replayable=False),
    _case("uninstallable-dependency", "package-install", "vcs-conformance-fixture-no-such-dist",
          options=("--vcs-env=isolated", "--vcs-offline"), as_wheel=True, slow=False,
          replayable=False),
    _case("import-error", "register-import", "vcs_defect_helper_that_does_not_exist",
          slow=False, replayable=False),
    _case("slow-import", "register-import", "timeout", slow=False, replayable=False),
    _case("unknown-hook", "register-hooks", "synthesise", slow=False, replayable=False),
    _case("noncallable-hook", "register-hooks", "init", slow=False, replayable=False),
    _case("wrong-arity-hook", "register-hooks", "synthesize", slow=False, replayable=False),
    _case("init-rejects-valid", "init-config", "'bright' is not implemented"),
    _case("init-accepts-invalid", "init-config", "to raise ValueError for invalid input"),
    _case("preprocess-wrong-duration", "preprocess-valid", "duration", LIFE),
    _case("preprocess-skips-first-row", "preprocess-valid", "one item per metadata row"),
    _case("preprocess-crash-nonascii", "preprocess-valid", "KeyError"),
    _case("preprocess-accepts-bad-id", "preprocess-invalid", "bad id"),
    _case("train-progress-backwards", "train-progress", "backwards"),
    _case("train-progress-no-100", "train-progress", "100"),
    _case("train-progress-empty-status", "train-progress", "status"),
    _case("train-model-outside", "train-valid", "models/", LIFE),
    _case("train-crash", "train-valid", "RuntimeError", LIFE),
    _case("train-accepts-empty", "train-invalid", "no items"),
    _case("synth-silent", "synthesize-valid", "silen", LIFE),
    # Input-dependent: the default ci profile must find each, every time.
    _case("synth-crash-nonascii", "synthesize-valid", "KeyError"),
    _case("synth-crash-long-text", "synthesize-valid", "IndexError"),
    _case("synth-crash-22050", "synthesize-valid", "ZeroDivisionError"),
    _case("synth-crash-question", "synthesize-valid", "RuntimeError: prosody model"),
    _case("synth-accepts-pitch-13", "synthesize-invalid", "pitch"),
    _case("model-format-mismatch", LIFE, "tone-v2"),
    _case("leaves-daemon", "hygiene", "processes left running"),
    # The strict sandbox makes datasets/ read-only (the write would crash preprocess): with
    # the sandbox off the write happens, and hygiene must report it.
    _case("writes-datasets", "hygiene", "index.json", options=("--vcs-sandbox=off",)),
    # A NaN loss: hygiene's "returns non-JSON", and no Model for train-valid and the chain.
    _case("returns-non-json", "hygiene", "not strict JSON", "train-valid", LIFE),
)
BY_FIXTURE = {c.fixture: c for c in CASES}


def _params(cases: tuple[Case, ...], *, xfail_kit_bugs: bool = False) -> list[Any]:
    out = []
    for case in cases:
        # Under ``-n 2 --dist loadgroup`` a fixture's tests share one worker, hence one run.
        marks: list[pytest.MarkDecorator] = [pytest.mark.xdist_group(case.fixture)]
        if case.slow:
            marks.append(pytest.mark.slow)
        if xfail_kit_bugs and case.kit_bug:
            marks.append(pytest.mark.xfail(strict=True, reason=case.kit_bug))
        out.append(pytest.param(case, id=case.fixture, marks=marks))
    return out


def _wheel(project: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    uv = find_tools("uv").uv or "uv"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(out), str(project)],
                   check=True, capture_output=True, timeout=600)
    return next(out.glob("*.whl"))


@pytest.fixture(scope="session")
def defect_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Case], KitRun]]:
    """``defect_run(case)``: the kit's run on the case's fixture, made once per session."""
    cache: dict[str, KitRun] = {}

    def get(case: Case) -> KitRun:
        if case.fixture not in cache:
            work = tmp_path_factory.mktemp(f"defect-{case.fixture}")
            handle = DEFECTIVE / case.fixture
            env = {"VCS_CONFORMANCE_CACHE_DIR": str(work / "env-cache")}
            options = [*BASE_OPTIONS, *case.options]
            if case.as_wheel:
                handle = _wheel(handle, work / "wheel")
            if "--vcs-offline" in options:
                (work / "wheelhouse").mkdir()
                options.append(f"--vcs-find-links={work / 'wheelhouse'}")
            cache[case.fixture] = run_kit(work / "run", [str(handle)], *options, env=env)
        return cache[case.fixture]

    yield get


# -- every defect is caught, with the evidence ------------------------------------------

@pytest.mark.parametrize("case", _params(CASES))
def test_defect_is_caught(case: Case, defect_run: Callable[[Case], KitRun]) -> None:
    """The defect's check fails with expected / saw / (replay command) in its message."""
    run = defect_run(case)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.report["settings"]["profile"] == "ci"  # found at the default profile
    assert run.outcomes()[case.check] == "failed", run.stdout
    text = run.failure_text(f"/{case.check}")
    assert f"[{case.check}]" in text
    assert "expected " in text and "\nsaw " in text
    assert case.seen in text, text
    if case.replayable:
        bundle = run.repro / run.report["plugins"][0]["info"]["name"] / f"{case.check}.json"
        assert f"replay with: vcs-conformance replay {bundle}" in text
        assert bundle.is_file()
        assert run.checks()[case.check]["repro"] == str(bundle)


@pytest.mark.parametrize("case", _params(CASES, xfail_kit_bugs=True))
def test_exactly_the_expected_checks_fail(case: Case,
                                          defect_run: Callable[[Case], KitRun]) -> None:
    """No other id fails; the rest pass, or skip naming the failed check they depend on."""
    run = defect_run(case)
    outcomes = run.outcomes()
    assert set(outcomes) == set(CHECK_IDS) - {"shim-equivalence"}  # 18 items, native
    assert run.failed() == case.fails, {c: o for c, o in outcomes.items() if o != "passed"}
    for check, entry in run.checks().items():
        if entry["outcome"] == "skipped":
            assert any("which failed: " in entry["reason"] and f in entry["reason"]
                       for f in case.fails), (check, entry["reason"])
        else:
            assert entry["outcome"] in ("passed", "failed"), (check, entry)
    lines = run.item_lines()
    name = run.report["plugins"][0]["info"]["name"]
    assert {n for n, word in lines.items() if word == "FAILED"} == {
        f"vcs/{name}/{c}" for c in run.failed()}


#: Replayed from their bundles: a crash, a wrong accept or reject, and each verdict rule
#: that needs more than "did it return": preprocess-valid's Dataset comparison (wrong
#: durations, a dropped row), hygiene's evidence (a daemon left behind; a write into
#: datasets/, sandbox off), lifecycle-pipeline's trained model (copied into the bundle).
REPLAY_CASES = tuple(c for c in CASES if c.replayable and c.fixture in (
    "synth-crash-question", "synth-crash-22050", "synth-accepts-pitch-13",
    "preprocess-crash-nonascii", "preprocess-accepts-bad-id", "train-accepts-empty",
    "init-rejects-valid", "init-accepts-invalid", "preprocess-wrong-duration",
    "preprocess-skips-first-row", "leaves-daemon", "writes-datasets", "model-format-mismatch",
    "train-progress-backwards", "returns-non-json"))
#: The conforming plugin every defective fixture was copied from: the defect, fixed.
FIXED = CONFORMING / "tone-1-2"


def _replay_cli(bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vcs_conformance", "replay", str(bundle),
                           *extra], capture_output=True, text=True, timeout=300, check=False)


def _bundle_of(case: Case, run: KitRun) -> tuple[Path, dict[str, Any]]:
    bundle = Path(run.checks()[case.check]["repro"])
    return bundle, json.loads(bundle.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _params(REPLAY_CASES))
def test_replay_gives_the_same_verdict(case: Case, defect_run: Callable[[Case], KitRun],
                                       pytester: pytest.Pytester) -> None:
    """``vcs-conformance replay BUNDLE`` and ``pytest --vcs-replay`` still fail (exit 1),
    for the same reason: the bundle's rule is judged by the check's own code."""
    run = defect_run(case)
    bundle, data = _bundle_of(case, run)
    level = "off" if "--vcs-sandbox=off" in case.options else "strict"
    assert data["check"] == case.check and data["sandbox"] == level  # the level really used
    assert data["core_version"] == "1.2.0" and data["plugin"] == str(DEFECTIVE / case.fixture)
    assert data["rule"]["expect"] in ("accept", "reject", "any")
    assert data["manifest_sha256"] and data["lock_file"] is None  # the fixtures lock nothing
    assert data["seed"] == "derandomized" and data["hypothesis"]["derandomized"] is True
    assert data["hypothesis"]["database_key"] == f"vcs-{data['plugin_name']}-{case.check}"
    for rel in data["files"]:  # what the call used travels with the bundle
        assert (bundle.parent / data["data_dir"] / rel).exists()
    # every dataset the call named (a path, or a Dataset's audio) travels with it
    assert data["files"] == workspace_paths(data["args"]), data["files"]
    cli = _replay_cli(bundle)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"[{case.check}] {data['plugin_name']}: still failing" in cli.stdout
    assert "expected " + data["expected"].splitlines()[0] in cli.stdout, cli.stdout
    assert "changed since the bundle" not in cli.stderr
    result = pytester.runpytest_subprocess(f"--vcs-replay={bundle}", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "[replay] still failing" in out
    assert "expected " + data["expected"].splitlines()[0] in out


@pytest.mark.parametrize("case", _params(REPLAY_CASES))
def test_fixed_plugin_replays_as_a_pass(case: Case, defect_run: Callable[[Case], KitRun],
                                        pytester: pytest.Pytester) -> None:
    """The same bundle on the conforming plugin (``--plugin``, ``--vcs-plugin``) passes,
    with a warning naming both manifest hashes (it is not the plugin CI ran)."""
    bundle, data = _bundle_of(case, defect_run(case))
    cli = _replay_cli(bundle, "--plugin", str(FIXED))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"{case.check}: "), cli.stdout
    fixed_sha = hashlib.sha256((FIXED / "vcs_tone12" / "vcs_plugin.yaml").read_bytes())
    assert (f"warning: the plugin changed since the bundle was written: manifest sha256 "
            f"{data['manifest_sha256']} (bundle) != {fixed_sha.hexdigest()} (now, {FIXED})"
            ) in cli.stderr
    result = pytester.runpytest_subprocess(f"--vcs-replay={bundle}", f"--vcs-plugin={FIXED}",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_failure_message_shows_input_log_tail_and_commands(
        defect_run: Callable[[Case], KitRun]) -> None:
    """A failure says for which input, shows the plugin's log tail, and both commands;
    the ``vcs-conformance run`` command really makes the failing call."""
    case = BY_FIXTURE["synth-crash-question"]
    run = defect_run(case)
    text = run.failure_text("/synthesize-valid")
    assert re.search(r"^for input \[.*\?.*\]$", text, re.M), text  # the shrunk example
    assert "plugin log (last lines):\n    " in text, text
    bundle, data = _bundle_of(case, run)
    assert f"replay with: vcs-conformance replay {bundle}" in text
    command = re.search(r"^or call the hook by hand: (vcs-conformance run .*)$", text, re.M)
    assert command, text
    assert command.group(1) == data["run_command"]
    argv = shlex.split(command.group(1))
    assert argv[:2] == ["vcs-conformance", "run"] and "--sandbox" in argv
    proc = subprocess.run([sys.executable, "-m", "vcs_conformance", *argv[1:]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "prosody model" in proc.stderr


# -- the catalogue as a whole ------------------------------------------------------------

def test_every_check_id_has_a_defect() -> None:
    """Each id of SPEC 7 is the target of a fixture (shim-equivalence: the injected shim)."""
    covered = {c.check for c in CASES} | {"shim-equivalence"}
    assert covered == set(CHECK_IDS)


def test_readme_lists_every_fixture() -> None:
    """README.md's table names each fixture, its check id and its run options."""
    text = (DEFECTIVE / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| .+? \| `([a-z-]+)` \|(.*)\|$", text, re.M)
    listed = {fixture: check for fixture, check, _ in rows}
    dirs = {p.name for p in DEFECTIVE.iterdir() if (p / "pyproject.toml").is_file()}
    assert set(listed) == dirs == set(BY_FIXTURE)
    for fixture, check in listed.items():
        assert BY_FIXTURE[fixture].check == check, fixture
        plugin = next((DEFECTIVE / fixture).glob("vcs_defect_*/plugin.py"))
        assert f"Expected to fail ``{check}``" in plugin.read_text(encoding="utf-8")


def test_engine_copies_are_identical() -> None:
    """Each fixture's ``_engine.py`` is the conforming template (resync: sync_engine.py)."""
    template = (CONFORMING / "tone-1-2" / "vcs_tone12" / "_engine.py").read_bytes()
    copies = [*DEFECTIVE.glob("*/vcs_defect_*/_engine.py"),
              *CONFORMING.glob("entry-point-attr/*/_engine.py"),
              *(HERE / "fixtures" / "kit").glob("hang-init/*/_engine.py")]
    assert len(copies) == len(CASES) + 2
    drifted = [str(p) for p in copies if p.read_bytes() != template]
    assert not drifted, "run python tests/fixtures/defective/sync_engine.py"


@pytest.mark.slow
def test_xdist_gives_the_same_verdicts(defect_run: Callable[[Case], KitRun],
                                       tmp_path: Path) -> None:
    """``-n 2`` spreads a plugin's items over two workers: same verdict per id."""
    case = BY_FIXTURE["synth-crash-question"]
    serial = defect_run(case)
    parallel = run_kit(tmp_path / "xdist", [str(DEFECTIVE / case.fixture)], *BASE_OPTIONS,
                       "-n", "2")
    assert "2 workers" in parallel.stdout or "gw1" in parallel.stdout
    assert parallel.outcomes() == serial.outcomes()
    assert parallel.failed() == {"synthesize-valid"}
    assert case.seen in parallel.failure_text("/synthesize-valid")


@pytest.mark.slow
def test_current_env_does_not_pass_unmet_dependencies(tmp_path: Path) -> None:
    run = run_kit(tmp_path, [str(DEFECTIVE / "uninstallable-dependency")], *BASE_OPTIONS,
                  "-k", "package-install")
    assert run.outcomes()["package-install"] != "passed"


INVERTED_RATE_SHIM = '''
"""Inject a broken 1.1 -> 1.2 shim step into the kit (PluginRun.shim_steps)."""
from vcs_conformance._checks._runner import PluginRun
from vcs_conformance._shims import Step11To12


class InvertedRate(Step11To12):
    """Hands the 1.1 plugin speed = 1 / rate for a valid rate (0.25-4 maps onto itself).

    So verdicts never change (valid stays valid, invalid is passed through):
    only the lengths of the WAVs differ, which only shim-equivalence compares.
    """

    def down_args(self, hook, args, ctx):
        args = super().down_args(hook, args, ctx)
        if hook == "synthesize" and isinstance(args[1], dict):
            speed = args[1].get("speed")
            if isinstance(speed, (int, float)) and not isinstance(speed, bool) \
                    and 0.25 <= speed <= 4.0:
                args = [args[0], {**args[1], "speed": 1.0 / speed}]
        return args


PluginRun.shim_steps = {("1.1", "1.2"): InvertedRate()}
'''


@pytest.fixture(scope="session")
def broken_shim_run(tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    """The conforming API 1.1 plugin on core 1.2.0 with the broken shim injected."""
    return run_kit(tmp_path_factory.mktemp("broken-shim"), [str(CONFORMING / "api-1-1")],
                   *BASE_OPTIONS, conftest=INVERTED_RATE_SHIM)


@pytest.mark.slow
@pytest.mark.xdist_group("broken-shim")
def test_broken_shim_is_caught(broken_shim_run: KitRun) -> None:
    """shim-equivalence, and only it, fails when a shim step mistranslates ``rate``."""
    run = broken_shim_run
    assert run.failed() == {"shim-equivalence"}, run.stdout
    assert set(run.outcomes()) == set(CHECK_IDS)
    assert all(o == "passed" for c, o in run.outcomes().items() if c != "shim-equivalence")
    text = run.failure_text("/shim-equivalence[1.1-1.2]")
    assert "expected the same Result (rate, seconds) natively" in text
    assert "through the chain" in text and "1.1 -> 1.2" in text
    assert "FAILED vcs/vcs-conf-api11/shim-equivalence[1.1-1.2]" in run.stdout
    assert (run.repro / "vcs-conf-api11" / "shim-equivalence.json").is_file()


@pytest.mark.slow
@pytest.mark.xdist_group("broken-shim")
def test_broken_shim_replays_as_a_failure(broken_shim_run: KitRun) -> None:
    bundle = broken_shim_run.repro / "vcs-conf-api11" / "shim-equivalence.json"
    workdir = bundle.parents[2]  # the run's rootdir, whose conftest injects the broken shim
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--rootdir", str(workdir), f"--vcs-replay={bundle}"],
                          cwd=workdir, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout
