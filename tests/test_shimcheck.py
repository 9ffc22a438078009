"""``shim-equivalence`` against deliberately broken shims, and its translation helpers.

Each broken step below breaks one thing the check compares (a verdict, a
rate, the progress percentages or statuses, a preprocess ``duration_s``,
the Result's shape, the 1.0 -> 1.1 step): the check must fail and its
message must show the hook, the payload and both results.  The plugin runs
for real (the matrix fixture plugins, in this interpreter, unsandboxed for
speed); the steps are injected as the kit's own tests do, through
``PluginRun.shim_steps``.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance import wav
from vcs_conformance._checks._catalogue import BY_ID
from vcs_conformance._checks._outcome import CheckFailed, CheckResult, CheckSkipped
from vcs_conformance._checks._runner import PluginRun
from vcs_conformance._checks._settings import Settings
from vcs_conformance._checks._shimcheck import (
    compare,
    core_only_fault,
    downgrade_dataset,
    native_to_core,
    shape,
    shim_equivalence,
    upgrade_voice_config,
)
from vcs_conformance._shims import ShimContext, Step10To11, Step11To12
from vcs_conformance.workspace import DatasetRow, create_workspace, write_dataset

MATRIX_PLUGINS = Path(__file__).parent / "fixtures" / "matrix" / "plugins"
API10 = str(MATRIX_PLUGINS / "api-1-0")
API11 = str(MATRIX_PLUGINS / "api-1-1")


class _Dirs:
    """pytest's TempPathFactory, as much of it as PluginRun uses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        self.count += 1
        path = self.root / f"{basename}{self.count}"
        path.mkdir()
        return path


MakeRun = Callable[..., PluginRun]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    """``make_run(plugin, core, window=1, steps=None)``: a PluginRun, closed after the test."""
    runs: list[PluginRun] = []

    def make(plugin: str, core: str, window: int = 1,
             steps: dict[tuple[str, str], Any] | None = None) -> PluginRun:
        settings = Settings(
            plugins=(plugin,), core_version=core, shim_window=window, sandbox="off",
            env="current", profile="quick", examples={"default": 10},
            install_system_deps=False, report=None, strict_compat=False, expect=None,
            update_expect=False, suite="1.0", min_checks=0, replay=None,
            repro_dir=tmp_path / "repro", offline=False, find_links=())
        run = PluginRun(plugin, settings, _Dirs(tmp_path), rootdir=tmp_path)
        run.shim_steps = steps  # the instance's, not the class attribute other tests use
        runs.append(run)
        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sandbox "off" warns, on purpose
        yield make
    for run in runs:
        run.close()


def _check(run: PluginRun) -> tuple[CheckFailed | None, CheckResult, list[tuple[str, str]]]:
    """Run shim-equivalence; return its failure (or None), its result and every call made."""
    calls: list[tuple[str, str]] = []
    original = run.call

    def recording(hook: str, *args: Any, **kw: Any) -> Any:
        outcome = original(hook, *args, **kw)
        target = kw.get("plugin")
        side = "shimmed" if target is run.plugin() else "native"
        calls.append((f"{hook}:{side}", outcome[0]))
        return outcome

    run.call = recording  # type: ignore[method-assign]
    result = CheckResult()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            shim_equivalence(run, BY_ID["shim-equivalence"], result)
        except CheckFailed as exc:
            return exc, result, calls
    return None, result, calls


def _assert_reported(exc: CheckFailed | None, hook: str, what: str) -> str:
    """The failure names ``what`` differs, the hook, both results and the payload."""
    assert exc is not None, "shim-equivalence passed with a broken shim"
    text = str(exc)
    assert f"expected the same {what}" in text and " natively (core of API " in text, text
    assert f"saw {hook}: native " in text and "\n    through the chain " in text, text
    assert "for input " in text, text
    assert exc.hook == hook
    assert exc.details["call"]["hook"] == hook and "native_args" in exc.details["call"]
    assert len(text) < 4000, "the failure message is not capped"
    return text


# -- conforming plugins pass, and every hook was compared --------------------------------------

@pytest.mark.parametrize(("plugin", "core", "window"), [(API11, "1.2.0", 1), (API10, "1.1.0", 1),
                                                        (API10, "1.2.0", 2)])
def test_correct_shims_pass_and_every_hook_is_compared(make_run: MakeRun, plugin: str,
                                                       core: str, window: int) -> None:
    exc, result, calls = _check(make_run(plugin, core, window))
    assert exc is None, str(exc)
    seen = {c for c, _ in calls}
    for hook in ("synthesize", "preprocess", "train"):
        assert {f"{hook}:native", f"{hook}:shimmed"} <= seen, seen
    # invalid payloads were compared too: some calls were refused on both sides
    assert ("preprocess:shimmed", "rejected") in calls
    assert ("synthesize:shimmed", "rejected") in calls
    if core == "1.2.0":  # the shim's own refusal of a Dataset item without duration_s
        assert ("train:shimmed", "rejected") in calls
    assert result.examples >= 10


def test_a_plugin_on_its_own_core_is_skipped(make_run: MakeRun) -> None:
    with pytest.raises(CheckSkipped, match="no shim chain"):
        _check(make_run(API11, "1.1.0"))


# -- broken shims ---------------------------------------------------------------------------

class PassesMissingDuration(Step11To12):
    """Strips ``duration_s`` without refusing an item that lacks it (SPEC 1 says refuse)."""

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        if hook == "train" and args and isinstance(args[0], dict) \
                and isinstance(args[0].get("items"), list):
            items = [{k: v for k, v in i.items() if k != "duration_s"}
                     if isinstance(i, dict) else i for i in args[0]["items"]]
            return [{**args[0], "items": items}, *args[1:]]
        return super().down_args(hook, args, ctx)


def test_a_verdict_that_differs_is_caught(make_run: MakeRun) -> None:
    exc, _, _ = _check(make_run(API11, "1.2.0", steps={("1.1", "1.2"): PassesMissingDuration()}))
    text = _assert_reported(exc, "train", "verdict")
    assert "native raised ValueError, by SPEC 1 (not called): items[0].duration_s" in text
    assert 'through the chain returned {"metrics"' in text and '"model": "models/' in text


class SwapsSampleRate(Step11To12):
    """Hands the 1.1 plugin the other declared sample rate: valid, but not what was asked."""

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        args = super().down_args(hook, args, ctx)
        if hook == "synthesize" and isinstance(args[1], dict):
            rate = args[1].get("sample_rate", 16000)
            if rate in (16000, 22050):
                args = [args[0], {**args[1], "sample_rate": 38050 - rate}]
        return args


def test_a_rate_that_differs_is_caught(make_run: MakeRun) -> None:
    exc, _, _ = _check(make_run(API11, "1.2.0", steps={("1.1", "1.2"): SwapsSampleRate()}))
    text = _assert_reported(exc, "synthesize", "Result (rate, seconds)")
    assert '"sample_rate": 16000' in text and '"sample_rate": 22050' in text
    assert "WAV header: 16000 Hz" in text and "WAV header: 22050 Hz" in text


class HalvesProgress(Step10To11):
    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0] / 2, self.STATUS)


class WrongStatus(Step10To11):
    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0], "working")


def test_a_progress_sequence_that_differs_is_caught(make_run: MakeRun) -> None:
    exc, _, _ = _check(make_run(API10, "1.1.0", steps={("1.0", "1.1"): HalvesProgress()}))
    text = _assert_reported(exc, "train", "progress sequence")
    assert 'progress [[0.0, "running"], [50.0, "running"]' in text
    assert 'progress [[0.0, "running"], [25.0, "running"]' in text


def test_progress_statuses_that_differ_are_caught(make_run: MakeRun) -> None:
    """A 1.0 plugin's progress must reach the core as ``"running"`` (SPEC 1)."""
    exc, _, _ = _check(make_run(API10, "1.1.0", steps={("1.0", "1.1"): WrongStatus()}))
    text = _assert_reported(exc, "train", "progress statuses")
    assert '"working"' in text and '"running"' in text


class LongerDurations(Step11To12):
    """Fills preprocess items' ``duration_s`` half a second too long."""

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        value = super().up_result(hook, value, ctx)
        if hook == "preprocess" and isinstance(value, dict):
            value = {**value, "items": [{**i, "duration_s": i["duration_s"] + 0.5}
                                        for i in value["items"]]}
        return value


def test_a_preprocess_duration_that_differs_is_caught(make_run: MakeRun) -> None:
    exc, _, _ = _check(make_run(API11, "1.2.0", steps={("1.1", "1.2"): LongerDurations()}))
    text = _assert_reported(exc, "preprocess", "verdict")
    assert 'native returned {"items": [{"audio": "datasets/' in text
    assert "through the chain broke the contract:" in text and "duration_s" in text


class FloatSampleRate(Step10To11):
    """Wraps a 1.0 path into a Result whose ``sample_rate`` is a float (16000.0)."""

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        value = super().up_result(hook, value, ctx)
        if hook == "synthesize" and isinstance(value, dict):
            value = {**value, "sample_rate": float(value["sample_rate"])}
        return value


def test_a_broken_10_to_11_step_changes_the_result_shape(make_run: MakeRun) -> None:
    exc, _, _ = _check(make_run(API10, "1.1.0", steps={("1.0", "1.1"): FloatSampleRate()}))
    text = _assert_reported(exc, "synthesize", "Result shape (keys and value types)")
    assert '"sample_rate": 16000}' in text and '"sample_rate": 16000.0}' in text


class InvertedSpeed(Step11To12):
    """speed = 1 / rate: only the WAV lengths differ (the catalogue test's broken shim)."""

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        args = super().down_args(hook, args, ctx)
        if hook == "synthesize" and isinstance(args[1], dict):
            speed = args[1].get("speed")
            if isinstance(speed, int | float) and not isinstance(speed, bool) \
                    and 0.25 <= speed <= 4.0:
                args = [args[0], {**args[1], "speed": 1.0 / speed}]
        return args


def test_native_wav_is_read_before_a_reused_output_name_is_overwritten(
        make_run: MakeRun, tmp_path: Path) -> None:
    """A 1.0 plugin that always writes ``outputs/same.wav``: the native WAV's facts must be
    read before the shimmed call overwrites it, or the check compares a WAV with itself."""
    plugin = tmp_path / "same-name"
    shutil.copytree(API10, plugin)
    code = plugin / "vcs_matrix_api10" / "plugin.py"
    source = code.read_text(encoding="utf-8")
    patched = source.replace('name = f"outputs/{uuid.uuid4().hex[:12]}.wav"',
                             'name = "outputs/same.wav"')
    assert patched != source
    code.write_text(patched, encoding="utf-8")
    exc, _, _ = _check(make_run(str(plugin), "1.2.0", 2, steps={("1.1", "1.2"): InvertedSpeed()}))
    text = _assert_reported(exc, "synthesize", "Result (rate, seconds)")
    assert text.count('"audio": "outputs/same.wav"') == 2


def test_replaying_the_recorded_call_gives_the_same_verdict(make_run: MakeRun) -> None:
    """``compare`` on the failure's recorded call (what a replay bundle holds) fails again."""
    run = make_run(API11, "1.2.0", steps={("1.1", "1.2"): SwapsSampleRate()})
    exc, _, _ = _check(run)
    assert exc is not None
    call = exc.details["call"]
    with pytest.raises(CheckFailed, match="Result"):
        compare(run, run.native_plugin(), run.plugin(), call["hook"], call["native_args"],
                call["args"])


# -- the translation helpers ----------------------------------------------------------------

def test_upgrade_voice_config_renames_speed_only_across_1_2() -> None:
    config = {"speed": 2.0, "pitch": 1.0, "x": 1}
    assert upgrade_voice_config(config, "1.1", "1.2") == {"rate": 2.0, "pitch": 1.0, "x": 1}
    assert upgrade_voice_config(config, "1.0", "1.2") == {"rate": 2.0, "pitch": 1.0, "x": 1}
    assert config == {"speed": 2.0, "pitch": 1.0, "x": 1}  # the caller's dict is untouched
    assert upgrade_voice_config(config, "1.0", "1.1") == config  # 1.1 still says speed
    assert upgrade_voice_config({"rate": 3.0}, "1.2", "1.2") == {"rate": 3.0}
    assert upgrade_voice_config({"pitch": 2.0}, "1.1", "1.2") == {"pitch": 2.0}


def test_downgrade_dataset_drops_duration_before_1_2_and_passes_odd_shapes() -> None:
    ds = {"items": [{"id": "a", "audio": "datasets/d/wavs/a.wav", "text": "t",
                     "duration_s": 0.3}], "sample_rate": 16000, "x": 1}
    assert downgrade_dataset(ds, "1.2") is ds
    assert downgrade_dataset(ds, "1.1") == {"items": [{"id": "a", "audio":
                                                       "datasets/d/wavs/a.wav", "text": "t"}],
                                            "sample_rate": 16000, "x": 1}
    assert downgrade_dataset(ds, "1.0") == downgrade_dataset(ds, "1.1")
    assert ds["items"][0]["duration_s"] == 0.3  # the caller's dataset is untouched
    # invalid Datasets are payloads too: what it does not recognise passes through
    for odd in (["not", "a", "dataset"], {"items": "all"}, {"sample_rate": 1}, None):
        assert downgrade_dataset(odd, "1.1") == odd
    assert downgrade_dataset({"items": [3, {"duration_s": 1}]}, "1.1") == {"items": [3, {}]}


def test_core_only_fault_names_the_item_only_where_the_plugin_cannot_see_it() -> None:
    bad = {"items": [{"id": "a", "duration_s": 0.1}, {"id": "b"}], "sample_rate": 8000}
    assert "items[1].duration_s" in str(core_only_fault(bad, "1.1", "1.2"))
    assert core_only_fault(bad, "1.2", "1.2") is None  # a 1.2 plugin judges it itself
    assert core_only_fault(bad, "1.0", "1.1") is None  # no duration_s before 1.2
    assert core_only_fault({"items": [{"duration_s": True}]}, "1.0", "1.2") is not None
    assert core_only_fault({"items": "x"}, "1.1", "1.2") is None


def test_native_to_core_wraps_a_path_and_fills_durations(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "ws")
    wav.write_pcm16(ws.outputs / "a.wav", wav.speechlike(0.25, 16000), 16000)
    run = type("R", (), {"workspace": ws})()
    result = native_to_core("synthesize", "outputs/a.wav", "1.0", "1.1", run)
    assert result["sample_rate"] == 16000 and abs(result["duration_s"] - 0.25) < 0.001
    assert native_to_core("synthesize", "outputs/a.wav", "1.0", "1.0", run) == "outputs/a.wav"
    rel = write_dataset(ws, "d", [DatasetRow("a", "Hi", sample_rate=8000, duration_s=0.2)])
    old = {"items": [{"id": "a", "audio": f"{rel}/wavs/a.wav", "text": "Hi"}],
           "sample_rate": 8000}
    new = native_to_core("preprocess", old, "1.1", "1.2", run)
    assert abs(new["items"][0]["duration_s"] - 0.2) < 0.001
    assert native_to_core("preprocess", old, "1.0", "1.1", run) == old


def test_shape_tells_integers_from_floats_except_in_metrics() -> None:
    assert shape({"sample_rate": 16000, "duration_s": 1.0, "audio": "x"}) == \
        {"audio": "string", "duration_s": "number", "sample_rate": "integer"}
    assert shape({"sample_rate": 16000.0}) != shape({"sample_rate": 16000})
    assert shape({"model": "m", "metrics": {"loss": 1}}) == \
        shape({"model": "m", "metrics": {"loss": 0.5}})
    assert shape({"items": [{"id": "a"}]}) != shape({"items": [{"id": "a", "x": None}]})


# -- compare() on stub calls: what both sides breaking, and huge results, give ----------------

class _StubRun:
    """Just enough of a PluginRun for ``compare``: each call answers from ``answers``."""

    def __init__(self, answers: dict[str, Any], tmp_path: Path) -> None:
        from types import SimpleNamespace

        self.answers = answers
        self.manifest = SimpleNamespace(api_version="1.1")
        self.core_version = "1.2.0"
        self.decision = SimpleNamespace(chain=("1.1", "1.2"))
        self.workspace = create_workspace(tmp_path / "stub-ws")

    def call(self, hook: str, *args: Any, plugin: Any = None, **kw: Any) -> Any:
        answer = self.answers[plugin]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_plugin_that_breaks_on_both_sides_fails_with_its_defect(tmp_path: Path) -> None:
    native_defect = CheckFailed("train to return or raise ValueError", "HookError: boom natively")
    run = _StubRun({"n": native_defect, "s": CheckFailed("x", "HookError: boom shimmed")},
                   tmp_path)
    with pytest.raises(CheckFailed) as info:
        compare(run, "n", "s", "train", [{"items": []}], [{"items": []}])
    assert info.value is native_defect


def test_one_side_breaking_is_a_difference_with_both_results(tmp_path: Path) -> None:
    model = {"model": "models/m.json", "metrics": {}}
    run = _StubRun({"n": ("ok", model), "s": CheckFailed("x", "OutputInvalid: bad\nmore")},
                   tmp_path)
    with pytest.raises(CheckFailed) as info:
        compare(run, "n", "s", "train", [{"items": []}], [{"items": []}])
    text = str(info.value)
    assert 'native returned {"metrics": {}, "model": "models/m.json"}' in text
    assert "through the chain broke the contract: OutputInvalid: bad" in text


def test_huge_results_are_capped_in_the_message(tmp_path: Path) -> None:
    big = {"model": "models/m.json", "metrics": {f"m{i}": i for i in range(2000)}}
    other = {"model": "outside/m.json", "metrics": {f"m{i}": i for i in range(2000)}}
    run = _StubRun({"n": ("ok", big), "s": ("ok", other)}, tmp_path)
    payload = [{"items": [{"id": "x" * 5000, "duration_s": 1.0}], "sample_rate": 16000}]
    with pytest.raises(CheckFailed) as info:
        compare(run, "n", "s", "train", payload, payload)
    text = str(info.value)
    assert "expected the same Model (model path under models/)" in text
    assert "characters)" in text and len(text) < 3000


def test_dataset_difference_judges_ids_texts_rate_and_durations_not_paths() -> None:
    """The host refuses a Dataset whose duration_s is off its WAV by more than 10 ms, so
    the check's own comparison is pinned here on two Datasets as the core would see them."""
    from vcs_conformance._checks._shimcheck import _dataset_difference

    def ds(duration: float, audio: str = "datasets/d/wavs/a.wav", text: str = "Hi.",
           rate: int = 22050) -> dict[str, Any]:
        return {"sample_rate": rate, "items": [
            {"id": "a", "audio": audio, "text": text, "duration_s": duration}]}

    assert _dataset_difference(ds(0.500), ds(0.509)) is None  # within 10 ms
    assert _dataset_difference(ds(0.500), ds(0.515)) == "Dataset items (duration_s within 10 ms)"
    # a fresh copy of the audio under another name is the same item (SPEC 5: an existing WAV)
    assert _dataset_difference(ds(0.5), ds(0.5, audio="cache/copy-1.wav")) is None
    assert _dataset_difference(ds(0.5), ds(0.5, text="Ho.")) == "Dataset items (text)"
    assert _dataset_difference(ds(0.5), ds(0.5, rate=16000)) == "Dataset sample_rate"
