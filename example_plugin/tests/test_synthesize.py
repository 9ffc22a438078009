"""synthesize: text and voice_config in, a WAV under outputs/ out; SPEC 5's invalid inputs."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vcs_example_espeak import _audio
from vcs_example_espeak._config import SAMPLE_RATES, VOICES

Hooks = dict[str, Callable[..., Any]]


def check_result(workspace: Path, result: dict[str, Any], *, audible: bool = True) -> list[float]:
    """SPEC 5's Result promises, checked against the file itself; returns the samples."""
    assert set(result) == {"audio", "sample_rate", "duration_s"}
    json.dumps(result, allow_nan=False)
    assert result["audio"].startswith("outputs/") and result["audio"].endswith(".wav")
    path = workspace / result["audio"]
    info = _audio.read_info(path, result["audio"])
    assert (info.channels, info.sample_width) == (1, 2)
    assert info.sample_rate == result["sample_rate"]
    assert abs(info.duration_s - result["duration_s"]) <= 0.010
    samples, _ = _audio.read_mono(path, result["audio"])
    if audible:
        assert max(map(abs, samples)) > 0.05
    return list(samples)


def test_defaults_give_22050_hz_en_us(hooks: Hooks, workspace: Path) -> None:
    result = hooks["synthesize"]("Hello world.", {})
    assert result["sample_rate"] == 22050
    assert 0.5 < result["duration_s"] < 3
    check_result(workspace, result)


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_every_declared_rate(hooks: Hooks, workspace: Path, rate: int) -> None:
    result = hooks["synthesize"]("Testing one two three.", {"sample_rate": rate})
    assert result["sample_rate"] == rate
    check_result(workspace, result)


def test_rate_changes_keep_the_length(hooks: Hooks) -> None:
    lengths = {r: hooks["synthesize"]("The length stays.", {"sample_rate": r})["duration_s"]
               for r in SAMPLE_RATES}
    assert max(lengths.values()) - min(lengths.values()) < 0.001


@pytest.mark.parametrize("voice", VOICES)
def test_every_declared_voice_speaks_ascii_and_its_own_script(hooks: Hooks, workspace: Path,
                                                              voice: str) -> None:
    for text in ("x", "Good morning", "Привет", "你好", "Grüß Gott, ça va?"):
        check_result(workspace, hooks["synthesize"](text, {"voice": voice}))


@pytest.mark.parametrize("text", [
    "a", "🙂 ok 🙂", "שלום עולם and hello", "مرحبا x", "日本語のテキスト a", "e\u0301t\u00e9 a",
    "[[[q]]]", "a\x00b", "-s 999 --help", "<speak>ssml is not read</speak>", "a|b\nc\r\nd",
    "\u200b\u200dz", "x" * 5000,
])
def test_any_unicode_text_gives_audio(hooks: Hooks, workspace: Path, text: str) -> None:
    check_result(workspace, hooks["synthesize"](text, {}))


@pytest.mark.parametrize("text", [".", "…", "🙂", "\ufeff", "\u0301"])
def test_text_without_letters_may_be_silent_but_valid(hooks: Hooks, workspace: Path,
                                                      text: str) -> None:
    check_result(workspace, hooks["synthesize"](text, {}), audible=False)


def test_rate_speeds_up_and_slows_down(hooks: Hooks) -> None:
    text = "Speaking rate changes the duration of this sentence."
    slow = hooks["synthesize"](text, {"rate": 0.5})["duration_s"]
    normal = hooks["synthesize"](text, {"rate": 1.0})["duration_s"]
    fast = hooks["synthesize"](text, {"rate": 2.0})["duration_s"]
    assert slow > 1.5 * normal > 2.2 * fast
    for extreme in (0.25, 4.0, 4):
        assert hooks["synthesize"](text, {"rate": extreme})["duration_s"] > 0


def test_pitch_moves_f0_by_semitones(hooks: Hooks, workspace: Path) -> None:
    text = "Pitch is measured over the voiced parts of this sentence."
    f0 = {}
    for semitones in (-6.0, 0.0, 6.0):
        result = hooks["synthesize"](text, {"pitch": semitones})
        f0[semitones] = _audio.median_f0(check_result(workspace, result), result["sample_rate"])
    assert f0[-6.0] < f0[0.0] < f0[6.0]  # type: ignore[operator]
    assert f0[6.0] / f0[-6.0] == pytest.approx(2.0, rel=0.15)  # type: ignore[operator]
    for extreme in (-12, 12.0):
        check_result(workspace, hooks["synthesize"](text, {"pitch": extreme}))


def test_unknown_keys_and_null_model_are_ignored(hooks: Hooks, workspace: Path) -> None:
    config = {"model": None, "emotion": "happy", "speed": 99, "x-vendor": {"a": [1]}}
    check_result(workspace, hooks["synthesize"]("fine", config))


def test_integral_floats_are_json_integers(hooks: Hooks) -> None:
    assert hooks["synthesize"]("a", {"sample_rate": 16000.0})["sample_rate"] == 16000


def test_init_options_and_host_settings_pick_the_defaults(
        make_hooks: Callable[..., Hooks], workspace: Path) -> None:
    hooks = make_hooks({"default_sample_rate": 16000})
    assert hooks["synthesize"]("a", {})["sample_rate"] == 16000
    hooks["init"]({"default_sample_rate": 48000, "default_voice": "de", "amplitude": 50,
                   "word_gap_ms": 200})
    quiet = hooks["synthesize"]("eins zwei drei", {})
    assert quiet["sample_rate"] == 48000
    loud = make_hooks()["synthesize"]("eins zwei drei", {"voice": "de", "sample_rate": 48000})
    assert quiet["duration_s"] > loud["duration_s"] + 0.3  # two 200 ms word gaps
    assert max(map(abs, check_result(workspace, quiet))) < \
        0.75 * max(map(abs, check_result(workspace, loud)))
    assert make_hooks({"default_sample_rate": 11025})["synthesize"]("a", {})["sample_rate"] \
        == 22050  # a host default the plugin does not offer is not used


def test_outputs_dir_is_created_and_left_clean(hooks: Hooks, workspace: Path) -> None:
    os.rmdir(workspace / "outputs")
    first = hooks["synthesize"]("one", {})
    second = hooks["synthesize"]("one", {})
    assert first["audio"] != second["audio"]
    assert sorted(p.name for p in (workspace / "outputs").iterdir()) == \
        sorted(Path(r["audio"]).name for r in (first, second))


def test_a_failed_write_leaves_no_partial_file(hooks: Hooks, workspace: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        hooks["synthesize"]("hello", {})
    assert list((workspace / "outputs").iterdir()) == []


INVALID_TEXT = [
    pytest.param("", "text is empty", id="empty"),
    pytest.param(" \t\n ", "only white space", id="spaces"),
    pytest.param("\u00a0\u2003\u3000", "only white space", id="unicode-spaces"),
    pytest.param("x" * 5001, "5001 characters; at most 5000", id="too-long"),
    pytest.param("ok \ud800 no", "lone surrogate", id="lone-surrogate"),
    pytest.param(None, "text must be a string", id="null"),
    pytest.param(b"bytes", "text must be a string", id="bytes"),
    pytest.param(5, "text must be a string", id="number"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_TEXT)
def test_invalid_text(hooks: Hooks, workspace: Path, text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hooks["synthesize"](text, {})
    assert list((workspace / "outputs").iterdir()) == []


INVALID_CONFIG = [
    pytest.param({"rate": 0.24}, "voice_config.rate must be from 0.25 to 4", id="rate-low"),
    pytest.param({"rate": 4.01}, "voice_config.rate must be from", id="rate-high"),
    pytest.param({"rate": 0}, "voice_config.rate must be from", id="rate-zero"),
    pytest.param({"rate": math.nan}, "voice_config.rate must be from", id="rate-nan"),
    pytest.param({"rate": math.inf}, "voice_config.rate must be from", id="rate-inf"),
    pytest.param({"rate": "1"}, "voice_config.rate must be a number", id="rate-str"),
    pytest.param({"rate": True}, "voice_config.rate must be a number", id="rate-bool"),
    pytest.param({"rate": None}, "voice_config.rate must be a number", id="rate-null"),
    pytest.param({"pitch": -12.01}, "voice_config.pitch must be from -12 to 12", id="pitch-low"),
    pytest.param({"pitch": 13}, "voice_config.pitch must be from", id="pitch-high"),
    pytest.param({"pitch": [1]}, "voice_config.pitch must be a number", id="pitch-list"),
    pytest.param({"voice": "klingon"}, "voice_config.voice must be one of", id="voice-unknown"),
    pytest.param({"voice": "mb-en1"}, "voice_config.voice must be one of", id="voice-mbrola"),
    pytest.param({"voice": "en"}, "voice_config.voice must be one of", id="voice-undeclared"),
    pytest.param({"voice": ""}, "voice_config.voice must be one of", id="voice-empty"),
    pytest.param({"voice": None}, "voice_config.voice must be one of", id="voice-null"),
    pytest.param({"sample_rate": 11025}, "voice_config.sample_rate must be one of",
                 id="rate-undeclared"),
    pytest.param({"sample_rate": 96000}, "voice_config.sample_rate must be one of",
                 id="rate-too-high"),
    pytest.param({"sample_rate": 22050.5}, "voice_config.sample_rate must be an integer",
                 id="rate-fraction"),
    pytest.param({"sample_rate": "22050"}, "voice_config.sample_rate must be an integer",
                 id="rate-string"),
    pytest.param({"sample_rate": False}, "voice_config.sample_rate must be an integer",
                 id="rate-false"),
    pytest.param({"model": "models/none.json"}, "voice_config.model 'models/none.json' does "
                 "not exist", id="model-missing"),
    pytest.param({"model": "models"}, "voice_config.model 'models' does not exist",
                 id="model-is-dir"),
    pytest.param({"model": "../x.json"}, "contains '..'", id="model-dotdot"),
    pytest.param({"model": "/etc/hostname"}, "is absolute", id="model-absolute"),
    pytest.param({"model": 1}, "voice_config.model must be a workspace-relative", id="model-int"),
    pytest.param({"model": "outputs/fake.json"}, "not a voice profile of this plugin",
                 id="model-not-json"),
    pytest.param({"model": "outputs/other.json"}, "not a voice profile of this plugin",
                 id="model-foreign"),
    pytest.param({"model": "outputs/future.json"}, "profile version 99", id="model-future"),
    pytest.param({"model": "outputs/damaged.json"}, "damaged voice profile", id="model-damaged"),
]


@pytest.mark.parametrize(("config", "message"), INVALID_CONFIG)
def test_invalid_voice_config(hooks: Hooks, workspace: Path, config: dict[str, Any],
                              message: str) -> None:
    outputs = workspace / "outputs"
    (outputs / "fake.json").write_bytes(b"\x89PNG not json")
    (outputs / "other.json").write_text('{"weights": [1, 2, 3]}')
    profile = {"format": "vcs-example-espeak/voice-profile", "version": 1, "f0_hz": 120.0,
               "tempo": 1.0}
    (outputs / "future.json").write_text(json.dumps({**profile, "version": 99}))
    (outputs / "damaged.json").write_text(json.dumps({**profile, "tempo": -1}))
    before = sorted(outputs.iterdir())
    with pytest.raises(ValueError, match=message):
        hooks["synthesize"]("valid text", config)
    assert sorted(outputs.iterdir()) == before


@pytest.mark.parametrize("config", [None, [], "en-us", 3])
def test_voice_config_must_be_an_object(hooks: Hooks, config: object) -> None:
    with pytest.raises(ValueError, match="voice_config must be an object"):
        hooks["synthesize"]("valid text", config)


def test_model_symlinked_outside_the_workspace(hooks: Hooks, workspace: Path,
                                               tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{}")
    os.symlink(tmp_path / "p.json", workspace / "models" / "p.json")
    with pytest.raises(ValueError, match="resolves outside the workspace"):
        hooks["synthesize"]("valid text", {"model": "models/p.json"})
