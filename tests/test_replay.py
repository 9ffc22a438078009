"""Replay bundles: their parts, the verdict rule, and ``vcs-conformance replay``'s errors.

The end-to-end proofs (a defect's bundle replays as the same failure; the
fixed plugin replays as a pass) are in ``test_catalogue_defects.py``; these
are the fast ones: a user's mistake (no bundle, a corrupt one, a plugin
path of another machine) is one line and exit 2, and a hand-written bundle
is judged by its rule (the same call passes under ``reject`` and fails
under ``accept``).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vcs_conformance._checks._bundle import (
    copy_entry,
    fingerprint,
    rule_for,
    run_command,
    workspace_paths,
)
from vcs_conformance._checks._replay import BundleError, drift, load_bundle, settings_for
from vcs_conformance.cli import build_parser, main

HERE = Path(__file__).parent
FIXED = HERE / "fixtures" / "conforming" / "tone-1-2"
MANIFEST = FIXED / "vcs_tone12" / "vcs_plugin.yaml"


def _bundle(tmp_path: Path, **over: Any) -> Path:
    data: dict[str, Any] = {
        "version": 2, "plugin": str(FIXED), "plugin_name": "vcs-tone12", "check": "init-config",
        "hook": "init", "args": [{"style": "no-such-style"}], "core_version": "1.2.0",
        "shim_window": 1, "sandbox": "strict", "env": "current",
        "rule": {"expect": "reject", "why": "style not in the enum"}, "files": [],
        "data_dir": None, **over}
    path = tmp_path / "vcs-repro" / "vcs-tone12" / f"{data['check']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vcs_conformance", "replay", *args],
                          capture_output=True, text=True, timeout=300, check=False)


# -- the rule and the files ------------------------------------------------------------

def test_rule_defaults_by_check() -> None:
    assert rule_for("synthesize-invalid", {}) == {"expect": "reject"}
    assert rule_for("synthesize-valid", {}) == {"expect": "accept"}
    assert rule_for("init-config", {"rule": {"expect": "reject", "why": "x"}}) == {
        "expect": "reject", "why": "x"}
    assert rule_for("preprocess-valid", {}) == {"expect": "accept",
                                                "post": "preprocess-dataset"}
    # hygiene and progress judge evidence, not the call's own outcome
    assert rule_for("hygiene", {}) == {"expect": "any", "post": "hygiene"}
    assert rule_for("train-progress", {}) == {"expect": "any", "post": "progress"}


def test_workspace_paths_name_the_entries_the_call_used() -> None:
    args = ["datasets/ds1", {"items": [{"audio": "datasets/ds1/wavs/a.wav"},
                                       {"audio": "cache/pre/b.wav"}]},
            {"model": "models/m.json"}, "datasets/../etc", "hello/world", "models/"]
    assert workspace_paths(args) == ["datasets/ds1", "cache/pre", "models/m.json"]


def test_copy_leaves_out_what_the_call_created(tmp_path: Path) -> None:
    src = tmp_path / "ws" / "datasets" / "ds1"
    (src / "wavs").mkdir(parents=True)
    (src / "metadata.csv").write_text("a|b\n")
    (src / "wavs" / "a.wav").write_bytes(b"RIFF")
    (src / "index.json").write_text("{}")  # written by the plugin during the call
    dst = tmp_path / "copy" / "datasets" / "ds1"
    assert copy_entry(src, dst, frozenset({"datasets/ds1/index.json"}), "datasets/ds1")
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == [
        "metadata.csv", "wavs", "wavs/a.wav"]
    assert not copy_entry(tmp_path / "missing", tmp_path / "x")


def test_fingerprint_and_drift_name_both_hashes(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    manifest = project / "vcs_plugin.yaml"
    manifest.write_text("name: a\n")
    (project / "pylock.toml").write_text("lock-version = '1.0'\n")
    then = fingerprint(str(project), str(manifest))
    assert then["lock_file"] == "pylock.toml" and then["lock_sha256"]
    manifest.write_text("name: b\n")
    run = SimpleNamespace(handle=str(project), manifest=SimpleNamespace(path=str(manifest)))
    now = fingerprint(str(project), str(manifest))
    [message] = drift(then, run)
    assert (f"manifest sha256 {then['manifest_sha256']} (bundle) != "
            f"{now['manifest_sha256']} (now, {project})") in message
    assert drift(now, run) == []
    wheel = tmp_path / "a-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    assert fingerprint(str(wheel), None)["artifact_sha256"]


# -- the vcs-conformance run command -------------------------------------------------------

def _run(tmp_path: Path) -> Any:
    settings = SimpleNamespace(shim_window=1, env="current")
    return SimpleNamespace(settings=settings, core_version="1.2.0", handle=str(FIXED))


@pytest.mark.parametrize("text", ["-x --voice-config {}", "Is this a question?",
                                  "שלום\u0301 👋 'quoted' $HOME\nline"])
def test_run_command_round_trips_the_call(tmp_path: Path, text: str) -> None:
    config = {"pitch": 3.5, "voice": "tone-high"}
    command = run_command(_run(tmp_path), "synthesize", [text, config], None, "strict")
    assert command is not None
    argv = shlex.split(command)
    assert argv[:2] == ["vcs-conformance", "run"]
    args = build_parser().parse_args(argv[1:])
    assert (args.hook, args.args, json.loads(args.voice_config)) == ("synthesize", [text], config)
    assert (args.plugin, args.sandbox, args.env, args.core_version) == (
        str(FIXED), "strict", "current", "1.2.0")


def test_run_command_for_a_dataset_and_a_config(tmp_path: Path) -> None:
    data = tmp_path / "init-data"
    (data / "datasets" / "ds7").mkdir(parents=True)
    command = run_command(_run(tmp_path), "preprocess", ["datasets/ds7"], data, "basic")
    assert command is not None
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.args == [str(data / "datasets" / "ds7")]
    command = run_command(_run(tmp_path), "init", [{"style": "x"}], None, "basic")
    assert command is not None
    assert build_parser().parse_args(shlex.split(command)[1:]).args == ['{"style": "x"}']


@pytest.mark.parametrize(("hook", "args"), [
    ("synthesize", ["Hi", {"model": "models/m.json"}]),  # needs the trained model
    ("synthesize", ["Hi", {"rate": float("nan")}]),  # not JSON
    ("synthesize", ["a\0b", {}]),  # no NUL in argv
    ("synthesize", ["x" * 3000, {}]),  # too long to be useful
    ("train", [{"items": []}]),  # a Dataset names workspace audio
    ("preprocess", ["datasets/not-copied"]),
])
def test_run_command_only_where_the_command_line_can_say_it(tmp_path: Path, hook: str,
                                                            args: list[Any]) -> None:
    assert run_command(_run(tmp_path), hook, args, tmp_path, "strict") is None


# -- user mistakes: one line, exit 2 ---------------------------------------------------------

def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *parts: str) -> None:
    assert main(["replay", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vcs-conformance replay: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


def test_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.json"
    _one_line_error(capsys, [str(path)], str(path), "cannot read the replay bundle")


@pytest.mark.parametrize(("content", "why"), [
    ("{not json", "not a JSON replay bundle"),
    ("[1, 2]", "a replay bundle is a JSON object"),
    ('{"check": "init-config"}', "missing plugin, hook, args, core_version"),
    ('{"plugin": "p", "check": "nope", "hook": "init", "args": [], "core_version": "1.2.0"}',
     "unknown check id 'nope'"),
    ('{"plugin": "p", "check": "init-config", "hook": "init", "args": [], "core_version": '
     '"1.2.0", "rule": {"expect": "maybe"}}', "'expect' is one of accept, reject, any"),
    ('{"plugin": "p", "check": "init-config", "hook": "sing", "args": [], "core_version": '
     '"1.2.0"}', "unknown hook 'sing'"),
    ('{"plugin": "p", "check": "init-config", "hook": "init", "args": [], "core_version": '
     '"1.2.0", "shim_window": "wide"}', "'shim_window' must be an integer"),
])
def test_corrupt_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                        why: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    _one_line_error(capsys, [str(path)], str(path), why)


def test_bundle_without_its_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bundle(tmp_path, check="preprocess-valid", hook="preprocess",
                   args=["datasets/ds1"], files=["datasets/ds1"],
                   data_dir="preprocess-valid-data")
    _one_line_error(capsys, [str(path)], "the copy of datasets/ds1 the call used is missing",
                    "copy the whole vcs-repro folder")
    with pytest.raises(BundleError, match="not a workspace path"):
        load_bundle(_bundle(tmp_path, files=["../../etc"], data_dir="x"))


def test_plugin_of_another_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CI bundle names the CI runner's path: say so and name ``--plugin``."""
    path = _bundle(tmp_path, plugin="/home/runner/work/plugin")
    _one_line_error(capsys, [str(path)], "'/home/runner/work/plugin' does not exist here",
                    "give --plugin PATH")
    _one_line_error(capsys, [str(path), "--plugin", str(tmp_path / "nowhere")],
                    f"{tmp_path / 'nowhere'}' does not exist here")


def test_settings_take_the_plugin_override() -> None:
    base = SimpleNamespace(plugins=(), shim_window=1, sandbox="auto", env="isolated",
                           core_version="1.2.0")
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class S:
        plugins: tuple[str, ...]
        shim_window: int
        sandbox: str
        env: str
        core_version: str

    bundle = {"plugin": "/ci/p", "core_version": "1.1.0", "sandbox": "basic", "env": "current"}
    s = S(**vars(base))
    assert settings_for(bundle, s).plugins == ("/ci/p",)
    assert settings_for(bundle, s, "/home/p").plugins == ("/home/p",)
    got = settings_for(bundle, S(**{**vars(base), "plugins": ("/vcs-plugin",)}))
    assert (got.plugins, got.sandbox, got.env, got.core_version) == (
        ("/vcs-plugin",), "basic", "current", "1.1.0")


# -- the rule decides the verdict ----------------------------------------------------------------

@pytest.mark.slow
def test_the_bundles_rule_decides_the_verdict(tmp_path: Path) -> None:
    """One call (init with an unknown style, which the plugin rejects): a pass under
    ``reject``, a failure under ``accept``; not "did it return"."""
    reject = _cli(str(_bundle(tmp_path / "r")))
    assert reject.returncode == 0, reject.stdout + reject.stderr
    assert reject.stdout.startswith("init-config: init raised ValueError as it should")
    accept = _cli(str(_bundle(tmp_path / "a", rule={"expect": "accept"})))
    assert accept.returncode == 1, accept.stdout + accept.stderr
    assert "[init-config] vcs-tone12: still failing\nexpected init to accept valid input" \
        in accept.stdout
    assert 'for input [{"style": "no-such-style"}]' in accept.stdout


def test_the_bundle_records_the_level_really_used(tmp_path: Path) -> None:
    """``auto`` is what was asked; the bundle wants what the worker ran under."""
    from vcs_conformance._checks._runner import PluginRun

    run = PluginRun.__new__(PluginRun)
    run.settings = SimpleNamespace(sandbox="auto")  # type: ignore[assignment]
    run._host = None
    assert run.sandbox_level() == "auto"  # nothing loaded: all it can say
    report = SimpleNamespace(level="basic")
    run._host = SimpleNamespace(sandbox_report=lambda: report)
    assert run.sandbox_level() == "basic"


def test_pytest_replay_of_a_missing_bundle_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--vcs-replay=nope.json", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope.json: cannot read the replay bundle*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_sandbox_this_machine_lacks_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "still failing" (exit 1, a verdict about the plugin): exit 2, naming the way out."""
    from vcs_conformance import sandbox
    from vcs_conformance.errors import SandboxUnavailable

    def unavailable(level: str = "auto") -> Any:
        raise SandboxUnavailable("bubblewrap is not installed")

    monkeypatch.setattr(sandbox, "make_launcher", unavailable)
    _one_line_error(capsys, [str(_bundle(tmp_path))], "sandbox level 'strict' is not available "
                    "here (bubblewrap is not installed)", "--sandbox basic")


def test_a_bundle_copies_links_as_links_never_what_they_point_at(tmp_path: Path) -> None:
    """A plugin's link in models/ must not carry a host file into a CI artifact."""
    from vcs_conformance._checks._bundle import copy_entry

    secret = tmp_path / "host-secret.txt"
    secret.write_text("token=hunter2")
    models = tmp_path / "ws" / "models"
    (models / "sub").mkdir(parents=True)
    (models / "sub" / "weights.bin").write_bytes(b"w")
    (models / "sub" / "leak").symlink_to(secret)
    (models / "dangling").symlink_to(tmp_path / "gone")
    out = tmp_path / "bundle"
    assert copy_entry(models / "sub", out / "models" / "sub")
    assert copy_entry(models / "dangling", out / "models" / "dangling")
    assert (out / "models" / "sub" / "leak").is_symlink()
    assert (out / "models" / "dangling").is_symlink()
    copied = [p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.is_symlink()]
    assert copied == [b"w"]
