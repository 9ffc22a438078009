"""LJSpeech datasets: read from disk (``preprocess``), checked as Dataset objects (``train``).

The format (SPEC 4): ``metadata.csv`` in UTF-8, no header, one row per
utterance, ``id|text`` or ``id|text|normalized_text``; the audio of row
``id`` is ``wavs/<id>.wav``, 16-bit mono PCM at 8000-48000 Hz.

Every error names the file and, for metadata problems, the line, because
the person fixing a 13 000-row dataset needs to know where to look.  The
first error wins: a dataset with one broken row is rejected as a whole, since
training on a silently shortened dataset is worse than a clear refusal.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ._audio import WavError, read_info
from ._validate import as_int, resolve

__all__ = ["Item", "check_dataset", "normalise_text", "read_ljspeech"]

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MIN_RATE: Final = 8000
MAX_RATE: Final = 48000
#: metadata.csv larger than this is refused rather than read into memory.
MAX_METADATA_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class Item:
    """One utterance: ``audio`` is the workspace-relative path, ``path`` the real one."""

    id: str
    audio: str
    path: Path
    text: str


def normalise_text(text: str) -> str:
    """Unicode NFC and single spaces, no leading or trailing white space.

    NFC because the same word typed on two systems may arrive composed or
    decomposed; whitespace because tabs, non-breaking and double spaces carry
    no meaning for synthesis but do change word counts.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def _decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{name} line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02X} "
                         f"at offset {exc.start}); save the file as UTF-8") from None
    # Tools on Windows like to start UTF-8 files with a byte order mark.
    return text.removeprefix("\ufeff")


def _rows(text: str, name: str) -> list[tuple[int, str, str]]:
    """``(line number, id, text)`` for every non-blank line."""
    rows = []
    # Split on \n only: str.splitlines() would also split on U+2028, U+0085
    # and friends, which are legal inside an LJSpeech text.
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.removesuffix("\r")
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            raise ValueError(f"{name} line {number}: expected 2 or 3 fields separated by '|' "
                             f"(id|text or id|text|normalized_text), found {len(fields)}")
        row_id = fields[0]
        if not ID_PATTERN.fullmatch(row_id):
            raise ValueError(f"{name} line {number}: id {row_id!r} is not 1-64 characters of "
                             f"A-Z, a-z, 0-9, '_' or '-'")
        # The normalised column, when present and not blank, is the better
        # input for synthesis (numbers and abbreviations spelled out).
        chosen = fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]
        rows.append((number, row_id, normalise_text(chosen)))
    return rows


def read_ljspeech(workspace: Path, dataset_dir: object) -> dict[str, Any]:
    """The Dataset (SPEC 5) for the LJSpeech directory ``dataset_dir``."""
    root, rel = resolve(workspace, dataset_dir, "dataset_dir", kind="dir")
    name = f"{rel}/metadata.csv"
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise ValueError(f"dataset_dir {rel!r} has no metadata.csv (an LJSpeech dataset needs "
                         f"{name} with rows id|text)")
    if meta.stat().st_size > MAX_METADATA_BYTES:
        raise ValueError(f"{name} is larger than {MAX_METADATA_BYTES // 2**20} MiB")
    try:
        raw = meta.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read: {exc.strerror or exc}") from None
    rows = _rows(_decode(raw, name), name)
    if not rows:
        raise ValueError(f"{name} has no rows; add one line id|text per WAV in {rel}/wavs/")
    items = []
    rates: Counter[int] = Counter()
    for number, row_id, text in rows:
        audio_rel = f"{rel}/wavs/{row_id}.wav"
        where = f"{name} line {number} (id {row_id!r})"
        try:
            path, audio_rel = resolve(workspace, audio_rel, "audio", kind="file")
        except ValueError:
            raise ValueError(f"{where}: its audio {audio_rel} is missing (or not a regular "
                             f"file inside the workspace)") from None
        try:
            info = read_info(path, audio_rel)
        except WavError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if info.channels != 1 or info.sample_width != 2:
            raise ValueError(f"{where}: {audio_rel} is {info.channels}-channel "
                             f"{8 * info.sample_width}-bit; LJSpeech audio is mono 16-bit PCM")
        if not MIN_RATE <= info.sample_rate <= MAX_RATE:
            raise ValueError(f"{where}: {audio_rel} is {info.sample_rate} Hz; the rate must be "
                             f"from {MIN_RATE} to {MAX_RATE} Hz")
        rates[info.sample_rate] += 1
        items.append({"id": row_id, "audio": audio_rel, "text": text,
                      "duration_s": info.duration_s})
    # SPEC 4 does not require one rate per dataset; report the usual one.
    return {"items": items, "sample_rate": rates.most_common(1)[0][0]}


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ValueError(f"{where}.{key} is missing")
    return obj[key]


def check_dataset(workspace: Path, dataset: object) -> list[Item]:
    """The items of a Dataset object handed to ``train``, checked (SPEC 5).

    Schema errors, an empty item list and audio that does not exist are
    invalid input.  Keys this API version does not define are ignored.
    """
    if not isinstance(dataset, dict):
        raise ValueError("dataset must be an object with 'items' and 'sample_rate'")
    rate = as_int(_field(dataset, "sample_rate", "dataset"), "dataset.sample_rate")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"dataset.sample_rate must be from {MIN_RATE} to {MAX_RATE}, "
                         f"got {rate}")
    entries = _field(dataset, "items", "dataset")
    if not isinstance(entries, list):
        raise ValueError("dataset.items must be an array of items")
    if not entries:
        raise ValueError("dataset.items is empty; training needs at least one utterance")
    items = []
    for index, entry in enumerate(entries):
        where = f"dataset.items[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object with id, audio, text and duration_s")
        item_id = _field(entry, "id", where)
        if not isinstance(item_id, str) or not ID_PATTERN.fullmatch(item_id):
            raise ValueError(f"{where}.id must be 1-64 characters of A-Z, a-z, 0-9, '_' or "
                             f"'-', got {item_id!r}")
        text = _field(entry, "text", where)
        if not isinstance(text, str):
            raise ValueError(f"{where}.text must be a string")
        duration = _field(entry, "duration_s", where)
        if isinstance(duration, bool) or not isinstance(duration, int | float) \
                or not math.isfinite(duration) or duration < 0:
            raise ValueError(f"{where}.duration_s must be a number >= 0, got {duration!r}")
        path, audio = resolve(workspace, _field(entry, "audio", where), f"{where}.audio",
                              kind="file")
        items.append(Item(item_id, audio, path, text))
    return items
