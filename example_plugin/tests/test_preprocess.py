"""preprocess: LJSpeech in, Dataset out; every broken dataset of SPEC 7 is a ValueError."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import tone, wav_bytes

Hooks = dict[str, Callable[..., Any]]


def make_dataset(workspace: Path, rows: bytes | str, wavs: dict[str, bytes] | None = None,
                 name: str = "d") -> str:
    """A dataset with literal metadata; every id in ``rows`` gets a 0.5 s WAV unless given."""
    root = workspace / "datasets" / name
    (root / "wavs").mkdir(parents=True)
    raw = rows.encode("utf-8") if isinstance(rows, str) else rows
    (root / "metadata.csv").write_bytes(raw)
    if wavs is None:
        ids = [line.split(b"|")[0].decode("utf-8", "replace").lstrip("\ufeff")
               for line in raw.split(b"\n") if b"|" in line]
        wavs = {i: wav_bytes(tone(150.0, 0.5, 16000), 16000) for i in ids}
    for item_id, data in wavs.items():
        (root / "wavs" / f"{item_id}.wav").write_bytes(data)
    return f"datasets/{name}"


def test_valid_dataset_gives_items_with_header_durations(hooks: Hooks, dataset: str,
                                                         workspace: Path) -> None:
    result = hooks["preprocess"](dataset)
    assert result["sample_rate"] == 22050
    assert [item["id"] for item in result["items"]] == ["plain_000", "plain_001", "plain_002"]
    for item in result["items"]:
        assert set(item) == {"id", "audio", "text", "duration_s"}
        assert item["audio"] == f"{dataset}/wavs/{item['id']}.wav"
        size = (workspace / item["audio"]).stat().st_size
        assert item["duration_s"] == pytest.approx((size - 44) / 2 / 22050, abs=0.001)
        assert item["text"].strip() == item["text"] and item["text"]


def test_text_is_normalised_and_the_normalised_column_preferred(hooks: Hooks,
                                                                 workspace: Path) -> None:
    rows = ("a|  Cafe\u0301 \t au\u00a0lait  \n"
            "b|Dr. Smith paid $5|Doctor Smith paid five dollars\n"
            "c|kept|   \n"
            "d|line\u2028separator is text\n")
    result = hooks["preprocess"](make_dataset(workspace, rows))
    texts = [item["text"] for item in result["items"]]
    assert texts == ["Caf\u00e9 au lait", "Doctor Smith paid five dollars", "kept",
                     "line separator is text"]


def test_bom_crlf_and_blank_lines_are_tolerated(hooks: Hooks, workspace: Path) -> None:
    rows = "\ufeffa|one\r\n\r\n   \r\nb|two\r\n"
    result = hooks["preprocess"](make_dataset(workspace, rows))
    assert [(i["id"], i["text"]) for i in result["items"]] == [("a", "one"), ("b", "two")]


def test_empty_text_and_mixed_rates_are_valid(hooks: Hooks, workspace: Path) -> None:
    wavs = {"a": wav_bytes(tone(150, 0.2, 8000), 8000),
            "b": wav_bytes(tone(150, 0.2, 48000), 48000),
            "c": wav_bytes(tone(150, 0.2, 48000), 48000)}
    result = hooks["preprocess"](make_dataset(workspace, "a|\nb|x\nc|y\n", wavs))
    assert result["sample_rate"] == 48000
    assert result["items"][0]["text"] == ""
    assert result["items"][0]["duration_s"] == pytest.approx(0.2)


def test_extra_trailing_slash_and_dot_segments_are_normalised(hooks: Hooks,
                                                               workspace: Path) -> None:
    make_dataset(workspace, "a|x\n")
    result = hooks["preprocess"]("datasets/./d/")
    assert result["items"][0]["audio"] == "datasets/d/wavs/a.wav"


def test_nothing_is_written(hooks: Hooks, dataset: str, workspace: Path) -> None:
    before = sorted(p for p in workspace.rglob("*"))
    hooks["preprocess"](dataset)
    assert sorted(p for p in workspace.rglob("*")) == before


BAD_ROWS = [
    pytest.param("", "has no rows", id="empty-metadata"),
    pytest.param("\n  \n\r\n", "has no rows", id="blank-metadata"),
    pytest.param("a|ok\nbad id|text\n", r"line 2: id 'bad id'", id="id-with-space"),
    pytest.param("a|ok\n" + "x" * 65 + "|text\n", "line 2: id", id="id-too-long"),
    pytest.param("a|ok\n|text\n", "line 2: id ''", id="id-empty"),
    pytest.param("\u00e9t\u00e9|text\n", "line 1: id", id="id-non-ascii"),
    pytest.param("a|ok\njust-an-id\n", "line 2: expected 2 or 3 fields.*found 1",
                 id="one-field"),
    pytest.param("a|ok\nb|x|y|z\n", "line 2: expected 2 or 3 fields.*found 4", id="four-fields"),
]


@pytest.mark.parametrize(("rows", "message"), BAD_ROWS)
def test_broken_metadata_names_file_and_line(hooks: Hooks, workspace: Path, rows: str,
                                             message: str) -> None:
    rel = make_dataset(workspace, rows)
    with pytest.raises(ValueError, match=f"{rel}/metadata.csv.*{message}"):
        hooks["preprocess"](rel)


def test_bad_utf8_names_the_line(hooks: Hooks, workspace: Path) -> None:
    rel = make_dataset(workspace, b"a|fine\nb|caf\xe9\n", wavs={"a": b"", "b": b""})
    with pytest.raises(ValueError, match=r"metadata.csv line 2: not valid UTF-8"):
        hooks["preprocess"](rel)


def _riff(fmt: bytes, payload: bytes) -> bytes:
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


BAD_WAVS = [
    pytest.param(b"", "not a RIFF/WAVE", id="empty-file"),
    pytest.param(b"not a wav at all, just text", "not a RIFF/WAVE", id="garbage"),
    pytest.param(wav_bytes(tone(100, 0.1, 8000), 8000)[:30], "no fmt chunk|truncated|cut off",
                 id="cut-in-header"),
    pytest.param(wav_bytes([1, 2], 8000)[:-4], "truncated", id="cut-in-data"),
    pytest.param(wav_bytes([1, 2], 8000, tag=3), "not PCM", id="float-format"),
    pytest.param(wav_bytes([1, 2, 3, 4], 8000, channels=2), "2-channel", id="stereo"),
    pytest.param(wav_bytes([1, 2], 8000, bits=24), "24-bit", id="24-bit"),
    pytest.param(wav_bytes([1, 2], 96000), "96000 Hz", id="rate-too-high"),
    pytest.param(wav_bytes([1, 2], 4000), "4000 Hz", id="rate-too-low"),
    pytest.param(_riff(struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 12), b"\0\0"),
                 "unsupported sample format", id="12-bit"),
]


@pytest.mark.parametrize(("data", "message"), BAD_WAVS)
def test_corrupt_or_wrong_wav_names_row_and_file(hooks: Hooks, workspace: Path, data: bytes,
                                                 message: str) -> None:
    rel = make_dataset(workspace, "ok|fine\nbad|broken\n",
                       wavs={"ok": wav_bytes([0, 1], 8000), "bad": data})
    with pytest.raises(ValueError, match=f"line 2 \\(id 'bad'\\).*wavs/bad.wav.*({message})"):
        hooks["preprocess"](rel)


def test_missing_wav_names_row_and_file(hooks: Hooks, workspace: Path) -> None:
    rel = make_dataset(workspace, "a|x\nb|y\n", wavs={"a": wav_bytes([0], 8000)})
    with pytest.raises(ValueError, match=r"line 2 \(id 'b'\): its audio datasets/d/wavs/b.wav "
                                         r"is missing"):
        hooks["preprocess"](rel)


def test_wav_symlinked_outside_the_workspace_is_refused(hooks: Hooks, workspace: Path,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "secret.wav"
    outside.write_bytes(wav_bytes([0, 1], 8000))
    rel = make_dataset(workspace, "a|x\n", wavs={})
    os.symlink(outside, workspace / rel / "wavs" / "a.wav")
    with pytest.raises(ValueError, match=r"line 1 .*a\.wav is missing"):
        hooks["preprocess"](rel)


def test_no_metadata(hooks: Hooks, workspace: Path) -> None:
    (workspace / "datasets" / "empty" / "wavs").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"'datasets/empty' has no metadata\.csv"):
        hooks["preprocess"]("datasets/empty")


@pytest.mark.parametrize(("arg", "message"), [
    ("datasets/nope", "does not exist"),
    ("/etc", "is absolute"),
    ("datasets/../..", "contains '..'"),
    ("", "non-empty"),
    (".", "names the workspace itself"),
    (None, "must be a workspace-relative path string, got null"),
    (42, "got a number"),
])
def test_bad_dataset_dir(hooks: Hooks, arg: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"dataset_dir.*{message}"):
        hooks["preprocess"](arg)


def test_dataset_dir_that_is_a_file(hooks: Hooks, workspace: Path) -> None:
    (workspace / "datasets" / "f").write_text("x")
    with pytest.raises(ValueError, match="dataset_dir 'datasets/f' does not exist"):
        hooks["preprocess"]("datasets/f")
