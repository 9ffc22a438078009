"""Result validation: path syntax, the O_NOFOLLOW walk, WAV facts, progress rules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance import wav
from vcs_conformance._validate import (
    ProgressTracker,
    is_silent,
    path_problem,
    read_workspace_wav,
    resolve_in_workspace,
    validate_output,
    validate_shape,
)
from vcs_conformance.errors import OutputInvalid
from vcs_conformance.workspace import Workspace, create_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return create_workspace(tmp_path / "ws")


def _speech(ws: Workspace, rel: str, seconds: float = 0.5, rate: int = 16000) -> str:
    wav.write_pcm16(ws.root / rel, wav.speechlike(seconds, rate), rate)
    return rel


@pytest.mark.parametrize(("path", "problem"), [
    ("outputs/a.wav", None),
    ("outputs/.hidden/..x", None),
    ("/etc/passwd", "is absolute"),
    ("outputs/../models/x", "contains '..'"),
    ("outputs//a.wav", "not normalised"),
    ("./outputs/a.wav", "not normalised"),
    ("outputs/a.wav/", "not normalised"),
    ("", "empty"),
    (3, "must be a string, not int"),
    ("C:\\out\\a.wav", "Windows path"),
    ("a\x00b", "NUL"),
])
def test_path_problem(path: Any, problem: str | None) -> None:
    found = path_problem(path)
    assert (found is None) if problem is None else (problem in str(found))


def test_symlinks_are_followed_but_must_stay_inside(ws: Workspace, tmp_path: Path) -> None:
    _speech(ws, "outputs/real.wav")
    (ws.outputs / "rel.wav").symlink_to("real.wav")
    (ws.outputs / "abs.wav").symlink_to(ws.outputs / "real.wav")
    (ws.outputs / "dir").symlink_to(ws.outputs)
    assert resolve_in_workspace(ws.root, "outputs/rel.wav", area="outputs").logical == \
        "outputs/real.wav"
    assert resolve_in_workspace(ws.root, "outputs/abs.wav").logical == "outputs/real.wav"
    assert resolve_in_workspace(ws.root, "outputs/dir/dir/real.wav").logical == \
        "outputs/real.wav"
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"x")
    (ws.outputs / "out-abs.wav").symlink_to(outside)
    (ws.outputs / "out-rel.wav").symlink_to("../../secret.wav")
    (ws.outputs / "area.wav").symlink_to("../cache/x.wav")
    (ws.cache / "x.wav").write_bytes(b"x")
    (ws.outputs / "loop").symlink_to("loop")
    cases = {"outputs/out-abs.wav": "symlink out of the workspace",
             "outputs/out-rel.wav": "resolves outside the workspace",
             "outputs/area.wav": "resolves to cache/x.wav, outside outputs/",
             "outputs/loop": "too many levels of symlinks",
             "outputs/nothing.wav": "outputs/nothing.wav is missing",
             "outputs/real.wav/x": "is not a directory"}
    for rel, message in cases.items():
        with pytest.raises(OutputInvalid, match=message.replace(".", r"\.")):
            resolve_in_workspace(ws.root, rel, pointer="/audio", area="outputs")


def test_a_fifo_is_not_opened_as_a_wav(ws: Workspace) -> None:
    os.mkfifo(ws.outputs / "pipe.wav")
    with pytest.raises(OutputInvalid, match="not a regular file"):
        read_workspace_wav(ws.root, "outputs/pipe.wav", area="outputs")


def test_result_checks_rate_length_and_silence(ws: Workspace) -> None:
    rel = _speech(ws, "outputs/a.wav", 0.5, 16000)
    good = {"audio": rel, "sample_rate": 16000, "duration_s": 0.505}
    validate_output("synthesize", good, api="1.2", workspace=ws.root, text="Hello")
    with pytest.raises(OutputInvalid, match="16000 Hz header but the Result says"):
        validate_output("synthesize", {**good, "sample_rate": 22050}, api="1.2",
                        workspace=ws.root, text="Hi")
    with pytest.raises(OutputInvalid, match=r"/audio: outputs/a.wav is 0.5000 s long"):
        validate_output("synthesize", {**good, "duration_s": 0.52}, api="1.2",
                        workspace=ws.root, text="Hi")
    wav.write_pcm16(ws.outputs / "quiet.wav", wav.silence(0.2, 8000), 8000)
    quiet = {"audio": "outputs/quiet.wav", "sample_rate": 8000, "duration_s": 0.2}
    with pytest.raises(OutputInvalid, match="all silence"):
        validate_output("synthesize", quiet, api="1.2", workspace=ws.root, text="Hello")
    # no ASCII letter: silence is allowed (e.g. punctuation only, or CJK text)
    validate_output("synthesize", quiet, api="1.2", workspace=ws.root, text="... 你好")
    validate_output("synthesize", quiet, api="1.2", workspace=ws.root,
                    text="\u00e9\u00df " * 2000)
    # the letters anywhere in a long text, and the two whose lower case is ASCII, count
    for text in ("\u4f60" * 4999 + "z", "\u0130", "\u212a"):
        with pytest.raises(OutputInvalid, match="all silence"):
            validate_output("synthesize", quiet, api="1.2", workspace=ws.root, text=text)
    (ws.outputs / "junk.wav").write_bytes(b"RIFX" + b"\0" * 40)
    with pytest.raises(OutputInvalid, match="not a valid PCM WAV"):
        validate_output("synthesize", {**good, "audio": "outputs/junk.wav"}, api="1.2",
                        workspace=ws.root, text="Hi")


def test_api_one_oh_result_is_a_bare_path(ws: Workspace) -> None:
    rel = _speech(ws, "outputs/b.wav")
    validate_output("synthesize", rel, api="1.0", workspace=ws.root, text="Hi")
    with pytest.raises(OutputInvalid, match="outside outputs/"):
        validate_output("synthesize", "models/b.wav", api="1.0", workspace=ws.root)


def test_shape_errors_name_the_field() -> None:
    with pytest.raises(OutputInvalid, match=r": /sample_rate: 5 is less than"):
        validate_shape("synthesize", {"audio": "outputs/a.wav", "sample_rate": 5,
                                      "duration_s": 1.0}, "1.2")
    with pytest.raises(OutputInvalid, match="'duration_s' is a required property"):
        validate_shape("preprocess", {"items": [{"id": "a", "audio": "datasets/x/a.wav",
                                                 "text": "t"}], "sample_rate": 8000}, "1.2")
    validate_shape("preprocess", {"items": [{"id": "a", "audio": "datasets/x/a.wav",
                                             "text": "t"}], "sample_rate": 8000}, "1.1")
    with pytest.raises(OutputInvalid, match=r": /model: 'outputs/m' is outside models/"):
        validate_shape("train", {"model": "outputs/m", "metrics": {}}, "1.2")
    with pytest.raises(OutputInvalid, match=r": /metrics/loss: 'low' is not of type"):
        validate_shape("train", {"model": "models/m", "metrics": {"loss": "low"}}, "1.2")


def test_dataset_durations_are_checked_against_the_wavs(ws: Workspace) -> None:
    (ws.datasets / "d" / "wavs").mkdir(parents=True)
    rel = _speech(ws, "datasets/d/wavs/a.wav", 0.25)
    dataset = {"items": [{"id": "a", "audio": rel, "text": "t", "duration_s": 0.25}],
               "sample_rate": 16000}
    validate_output("preprocess", dataset, api="1.2", workspace=ws.root)
    dataset["items"][0]["duration_s"] = 0.3
    with pytest.raises(OutputInvalid, match=r": /items/0/duration_s: 0.3 but"):
        validate_output("preprocess", dataset, api="1.2", workspace=ws.root)


def test_model_must_exist_under_models(ws: Workspace) -> None:
    (ws.models / "m").mkdir()
    validate_output("train", {"model": "models/m", "metrics": {}}, api="1.2", workspace=ws.root)
    with pytest.raises(OutputInvalid, match="does not exist"):
        validate_output("train", {"model": "models/n", "metrics": {}}, api="1.2",
                        workspace=ws.root)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_is_silent_for_every_pcm_width(width: int) -> None:
    zero = (b"\x80" if width == 1 else b"\0" * width) * 100
    assert is_silent(zero, width)
    loud_sample = {1: b"\xff", 2: (20000).to_bytes(2, "little", signed=True),
                   3: (-3_000_000).to_bytes(3, "little", signed=True),
                   4: (1 << 30).to_bytes(4, "little", signed=True)}[width]
    assert not is_silent(zero + loud_sample, width)


def test_progress_rules() -> None:
    ok = ProgressTracker("1.2")
    for event in ([0, "start"], [50.5, "half"], [50.5, "still"], [100, "done"]):
        assert ok.add(event)
    ok.finish(success=True)
    cases = [([[10, "a"], [5, "b"]], "went backwards from 10.0 to 5"),
             ([[101, "a"]], "outside [0, 100]"),
             ([[True, "a"]], "finite number"),
             ([[50, "x" * 201]], "status must be a string of 1-200"),
             ([[50]], "1 arguments, API 1.2 passes 2"),
             ([[90, "a"]], "not 100")]
    for events, message in cases:
        tracker = ProgressTracker("1.2")
        for event in events:
            tracker.add(event)
        with pytest.raises(OutputInvalid, match=message.replace("[", r"\[")):
            tracker.finish(success=True)
    old = ProgressTracker("1.0")
    assert old.add([100.0])
    old.finish(success=True)
    failed = ProgressTracker("1.2")
    failed.finish(success=False)  # a failed call need not reach 100


@pytest.mark.parametrize("where", [0, 1023, 1024, 3071, 3072, 70_000, 199_999])
@pytest.mark.parametrize("width", [2, 4])
def test_one_loud_sample_anywhere_makes_audio_not_silent(width: int, where: int) -> None:
    """The scan stops early on loud audio, but never skips a window of a quiet file."""
    quiet = (3).to_bytes(width, "little", signed=True)
    loud = (-20_000 if width == 2 else -(1 << 28)).to_bytes(width, "little", signed=True)
    pcm = quiet * where + loud + quiet * (200_000 - where - 1)
    assert not is_silent(pcm, width)
    assert is_silent(quiet * 200_000, width)
