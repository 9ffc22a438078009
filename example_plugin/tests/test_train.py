"""train: a Dataset in, a voice profile under models/ out, progress as SPEC 5 says."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Progress, tone, wav_bytes

Hooks = dict[str, Callable[..., Any]]


def test_valid_dataset_gives_a_model_with_metrics(hooks: Hooks, dataset: str, workspace: Path,
                                                   progress: Progress) -> None:
    model = hooks["train"](hooks["preprocess"](dataset), progress)
    assert model["model"].startswith("models/") and model["model"].endswith(".json")
    assert (workspace / model["model"]).is_file()
    metrics = model["metrics"]
    assert {"f0_hz", "words_per_second", "files"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["files"] == 3
    assert 90 < metrics["f0_hz"] < 115  # espeak-ng's default pitch, -p 50
    assert 2.0 < metrics["words_per_second"] < 4.5  # 175 words/min, minus pauses
    assert metrics["tempo"] == pytest.approx(1.0, abs=0.05)  # espeak-ng imitating itself
    json.dumps(model, allow_nan=False)


def test_progress_reports_every_file_and_ends_at_100(hooks: Hooks, dataset: str,
                                                     progress: Progress) -> None:
    hooks["train"](hooks["preprocess"](dataset), progress)
    percents = [p for p, _ in progress.events]
    assert percents[0] == 0.0 and percents[-1] == 100.0
    assert len(progress.events) == 3 + 2
    assert [s for _, s in progress.events[1:4]] == [
        "analysed plain_000 (1/3)", "analysed plain_001 (2/3)", "analysed plain_002 (3/3)"]


def test_no_partial_files_are_left_in_models(hooks: Hooks, dataset: str, workspace: Path,
                                             progress: Progress) -> None:
    hooks["train"](hooks["preprocess"](dataset), progress)
    assert [p.suffix for p in (workspace / "models").iterdir()] == [".json"]


def test_models_dir_is_created_when_missing(hooks: Hooks, dataset: str, workspace: Path,
                                            progress: Progress) -> None:
    os.rmdir(workspace / "models")
    model = hooks["train"](hooks["preprocess"](dataset), progress)
    assert (workspace / model["model"]).is_file()


def test_unvoiced_dataset_trains_to_a_usable_model(hooks: Hooks, workspace: Path,
                                                   progress: Progress) -> None:
    """Silence has no F0: the metric says 0 and synthesis falls back to the voice's pitch."""
    wavs = workspace / "datasets" / "quiet" / "wavs"
    wavs.mkdir(parents=True)
    (wavs / "a.wav").write_bytes(wav_bytes([0] * 8000, 8000))
    dataset = {"sample_rate": 8000, "items": [
        {"id": "a", "audio": "datasets/quiet/wavs/a.wav", "text": "", "duration_s": 1.0}]}
    model = hooks["train"](dataset, progress)
    assert model["metrics"]["f0_hz"] == 0.0 and model["metrics"]["voiced_frames"] == 0.0
    result = hooks["synthesize"]("hello", {"model": model["model"]})
    assert (workspace / result["audio"]).is_file()


def test_lenient_about_what_a_dataset_need_not_be(hooks: Hooks, workspace: Path,
                                                  progress: Progress) -> None:
    """Extra keys, stereo 24-bit audio anywhere in the workspace, a lone surrogate in text."""
    (workspace / "cache" / "x.wav").write_bytes(
        wav_bytes([v * 256 for v in tone(120, 0.5, 16000) for _ in (0, 1)], 16000,
                  channels=2, bits=24))
    dataset = {"sample_rate": 16000.0, "future": {"x": 1}, "items": [
        {"id": "x", "audio": "cache/x.wav", "text": "one \ud800 two", "duration_s": 0,
         "speaker": "someone"}]}
    model = hooks["train"](dataset, progress)
    assert model["metrics"]["f0_hz"] == pytest.approx(120, rel=0.03)


def _valid(workspace: Path) -> dict[str, Any]:
    wavs = workspace / "datasets" / "v" / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    (wavs / "a.wav").write_bytes(wav_bytes(tone(150, 0.3, 8000), 8000))
    (workspace / "datasets" / "v" / "bad.wav").write_bytes(b"RIFF junk")
    return {"sample_rate": 8000, "items": [
        {"id": "a", "audio": "datasets/v/wavs/a.wav", "text": "hello", "duration_s": 0.3}]}


def _without(key: str) -> Callable[[dict[str, Any]], object]:
    def edit(d: dict[str, Any]) -> object:
        del d["items"][0][key]
        return d
    return edit


def _set(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    def edit(d: dict[str, Any]) -> object:
        d["items"][0][key] = value
        return d
    return edit


def _top(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    def edit(d: dict[str, Any]) -> object:
        d[key] = value
        return d
    return edit


INVALID: list[Any] = [
    pytest.param(lambda d: [d], "dataset must be an object", id="not-an-object"),
    pytest.param(lambda d: {"sample_rate": 8000}, "dataset.items is missing", id="no-items"),
    pytest.param(lambda d: {"items": d["items"]}, "dataset.sample_rate is missing",
                 id="no-rate"),
    pytest.param(_top("items", []), "dataset.items is empty", id="empty-items"),
    pytest.param(_top("items", {"a": 1}), "dataset.items must be an array", id="items-object"),
    pytest.param(_top("sample_rate", 4000), "dataset.sample_rate must be from", id="rate-low"),
    pytest.param(_top("sample_rate", "8000"), "dataset.sample_rate must be an integer",
                 id="rate-string"),
    pytest.param(_top("sample_rate", True), "dataset.sample_rate must be an integer",
                 id="rate-bool"),
    pytest.param(_top("sample_rate", 8000.5), "dataset.sample_rate must be an integer",
                 id="rate-fraction"),
    pytest.param(_top("items", ["a"]), r"dataset.items\[0\] must be an object", id="item-str"),
    pytest.param(_without("id"), r"dataset.items\[0\].id is missing", id="no-id"),
    pytest.param(_without("audio"), r"dataset.items\[0\].audio is missing", id="no-audio"),
    pytest.param(_without("text"), r"dataset.items\[0\].text is missing", id="no-text"),
    pytest.param(_without("duration_s"), r"dataset.items\[0\].duration_s is missing",
                 id="no-duration"),
    pytest.param(_set("id", "a b"), r"items\[0\].id must be", id="bad-id"),
    pytest.param(_set("id", 7), r"items\[0\].id must be", id="id-number"),
    pytest.param(_set("text", None), r"items\[0\].text must be a string", id="text-null"),
    pytest.param(_set("duration_s", -1), r"items\[0\].duration_s must be", id="duration-neg"),
    pytest.param(_set("duration_s", "1"), r"items\[0\].duration_s must be", id="duration-str"),
    pytest.param(_set("audio", "datasets/v/wavs/missing.wav"),
                 r"items\[0\].audio 'datasets/v/wavs/missing.wav' does not exist",
                 id="audio-missing"),
    pytest.param(_set("audio", "datasets/v/wavs"), r"items\[0\].audio .* does not exist",
                 id="audio-is-dir"),
    pytest.param(_set("audio", "../outside.wav"), r"items\[0\].audio .* contains '..'",
                 id="audio-dotdot"),
    pytest.param(_set("audio", "/etc/passwd"), r"items\[0\].audio .* is absolute",
                 id="audio-absolute"),
    pytest.param(_set("audio", 3), r"items\[0\].audio must be a workspace-relative path",
                 id="audio-number"),
    pytest.param(_set("audio", "datasets/v/bad.wav"), "datasets/v/bad.wav: not a RIFF",
                 id="audio-corrupt"),
]


@pytest.mark.parametrize(("edit", "message"), INVALID)
def test_invalid_dataset_raises_value_error_naming_the_field(
        hooks: Hooks, workspace: Path, edit: Callable[[dict[str, Any]], object], message: str,
        progress: Progress) -> None:
    dataset = edit(copy.deepcopy(_valid(workspace)))
    with pytest.raises(ValueError, match=message):
        hooks["train"](dataset, progress)
    assert list((workspace / "models").iterdir()) == []


def test_schema_errors_fail_before_any_progress(hooks: Hooks, workspace: Path,
                                                progress: Progress) -> None:
    dataset = _valid(workspace)
    dataset["items"].append({"id": "b", "audio": "nope.wav", "text": "", "duration_s": 1})
    with pytest.raises(ValueError, match=r"items\[1\].audio"):
        hooks["train"](dataset, progress)
    assert progress.events == []
