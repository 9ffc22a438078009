"""Proof that training does something: the trained voice follows the dataset's speaker.

Two speakers are recorded with espeak-ng itself, one low (``-p 20``) and one
high (``-p 80``), so their true pitch is known and far apart.  Each dataset
goes through the whole pipeline (preprocess -> train -> synthesize), and
the same sentence, spoken with each model, must (a) move in the same
direction as the speakers and (b) land within 15 % of the median F0 that
the test itself measures on the dataset recordings.  The tempo test does
the same for speaking rate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from helpers import Progress, record_dataset

from vcs_example_espeak import _audio

Hooks = dict[str, Callable[..., Any]]
SENTENCE = "Every voice in this test reads the very same sentence aloud."


def dataset_f0(workspace: Path, dataset: dict[str, Any]) -> float:
    """Median F0 of all voiced frames in the dataset, measured here, not by train."""
    frames: list[float] = []
    for item in dataset["items"]:
        samples, rate = _audio.read_mono(workspace / item["audio"], item["audio"])
        frames += _audio.f0_track(samples, rate)
    return median(frames)


def output_f0(workspace: Path, result: dict[str, Any]) -> float:
    samples, rate = _audio.read_mono(workspace / result["audio"], result["audio"])
    found = _audio.median_f0(samples, rate)
    assert found is not None, "the synthesised sentence has no voiced frame"
    return found


def pipeline(hooks: Hooks, workspace: Path, name: str, *, pitch: int = 50,
             speed: int = 175) -> dict[str, Any]:
    rel = record_dataset(workspace, name, count=6, pitch=pitch, speed=speed)
    dataset = hooks["preprocess"](rel)
    progress = Progress()
    model = hooks["train"](dataset, progress)
    assert progress.events[-1][0] == 100.0
    return {"dataset": dataset, "model": model}


def test_trained_pitch_follows_the_speaker(hooks: Hooks, workspace: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    low = pipeline(hooks, workspace, "low", pitch=20)
    high = pipeline(hooks, workspace, "high", pitch=80)
    figures = {}
    for name, run in (("low", low), ("high", high)):
        truth = dataset_f0(workspace, run["dataset"])
        result = hooks["synthesize"](SENTENCE, {"model": run["model"]["model"],
                                                "sample_rate": 16000})
        spoken = output_f0(workspace, result)
        figures[name] = (truth, run["model"]["metrics"]["f0_hz"], spoken)
        assert spoken == pytest.approx(truth, rel=0.15), (name, figures[name])
    untrained = output_f0(workspace, hooks["synthesize"](SENTENCE, {"sample_rate": 16000}))
    assert figures["low"][2] < untrained < figures["high"][2]
    assert figures["high"][2] / figures["low"][2] > 1.4  # the speakers are ~0.9 octave apart
    with capsys.disabled():
        print("\n  F0 (Hz)  dataset  trained  synthesised   [untrained "
              f"{untrained:.1f}]")
        for name, (truth, trained, spoken) in figures.items():
            print(f"  {name:<7}  {truth:7.1f}  {trained:7.1f}  {spoken:11.1f}")


def test_pitch_shift_applies_on_top_of_the_trained_voice(hooks: Hooks,
                                                         workspace: Path) -> None:
    model = pipeline(hooks, workspace, "mid", pitch=40)["model"]["model"]
    down = output_f0(workspace, hooks["synthesize"](SENTENCE, {"model": model, "pitch": -3}))
    base = output_f0(workspace, hooks["synthesize"](SENTENCE, {"model": model}))
    up = output_f0(workspace, hooks["synthesize"](SENTENCE, {"model": model, "pitch": 3}))
    assert down < base < up
    assert up / down == pytest.approx(2 ** (6 / 12), rel=0.1)


def test_trained_tempo_follows_the_speaker(hooks: Hooks, workspace: Path) -> None:
    slow = pipeline(hooks, workspace, "slow", speed=120)
    fast = pipeline(hooks, workspace, "fast", speed=260)
    assert slow["model"]["metrics"]["words_per_second"] < \
        fast["model"]["metrics"]["words_per_second"]
    durations = {}
    for name, run in (("slow", slow), ("fast", fast)):
        result = hooks["synthesize"](SENTENCE, {"model": run["model"]["model"]})
        samples, rate = _audio.read_mono(workspace / result["audio"], result["audio"])
        durations[name] = _audio.active_duration_s(samples, rate)
    # espeak-ng at 175 vs 120 and 260 words/min: durations scale by ~260/120.
    assert durations["slow"] / durations["fast"] == pytest.approx(260 / 120, rel=0.15)
