"""Workspaces and datasets as plugins will see them (SPEC 4, 7).

Datasets are read back with the tools a plugin author would use (``csv``
with ``|`` and no quoting, a WAV header reader), independently of the code
that wrote them; each broken variant is audited for *every* problem a
dataset can have, so "broken in exactly one way" is checked, not assumed.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from pathlib import Path

import pytest

from vcs_conformance import wav
from vcs_conformance.workspace import (
    BROKEN_DATASET_VARIANTS,
    DatasetRow,
    Workspace,
    create_workspace,
    expected_dataset,
    protect_datasets,
    unprotect_datasets,
    write_dataset,
)

ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return create_workspace(tmp_path / "ws")


def read_rows(ws: Workspace, rel: str) -> list[list[str]]:
    with open(ws.root / rel / "metadata.csv", encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))


def test_layout_is_created_idempotently_and_absolute(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = create_workspace("proj")
    assert ws.root == (tmp_path / "proj").resolve() and ws.root.is_absolute()
    for area, name in ((ws.datasets, "datasets"), (ws.cache, "cache"),
                       (ws.models, "models"), (ws.outputs, "outputs")):
        assert area == ws.root / name and area.is_dir()
    (ws.outputs / "keep.txt").write_text("x")
    assert create_workspace(tmp_path / "proj") == ws
    assert (ws.outputs / "keep.txt").read_text() == "x"
    assert ws.path("outputs/keep.txt") == ws.outputs / "keep.txt"


def test_root_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        create_workspace(tmp_path / "f")


def test_written_dataset_reads_back(ws: Workspace) -> None:
    rows = [
        DatasetRow("a_1", 'He said "hi", then left.', sample_rate=8000, duration_s=0.2),
        DatasetRow("B-2", "שלום עולם 👋🏽 e\u0301", "shalom olam", sample_rate=48000,
                   duration_s=0.35, f0_hz=220.0),
        DatasetRow("c", "", sample_rate=22050),
    ]
    rel = write_dataset(ws, "mixed", rows)
    assert rel == "datasets/mixed"
    assert read_rows(ws, rel) == [["a_1", 'He said "hi", then left.'],
                                  ["B-2", "שלום עולם 👋🏽 e\u0301", "shalom olam"],
                                  ["c", ""]]
    assert sorted(p.name for p in (ws.root / rel).iterdir()) == ["metadata.csv", "wavs"]
    for row in rows:
        info = wav.read_info(ws.root / rel / "wavs" / f"{row.id}.wav")
        assert (info.sample_rate, info.channels, info.sample_width, info.format_tag) == (
            row.sample_rate, 1, 2, 1)
        assert abs(info.duration_s - row.duration_s) < 0.001
        samples, _ = wav.read_pcm16(ws.root / rel / "wavs" / f"{row.id}.wav")
        assert not wav.is_silent(samples)
    assert not [p for p in ws.datasets.iterdir() if p.name.startswith(".")]


def test_expected_dataset(ws: Workspace) -> None:
    rel = write_dataset(ws, "d", [
        DatasetRow("x", "first", sample_rate=16000, duration_s=0.25),
        DatasetRow("y", "second", "2nd", sample_rate=44100, duration_s=0.5),
    ])
    assert expected_dataset(ws, rel) == {
        "items": [
            {"id": "x", "audio": "datasets/d/wavs/x.wav", "text": "first", "duration_s": 0.25},
            {"id": "y", "audio": "datasets/d/wavs/y.wav", "text": "second",
             "duration_s": 0.5},
        ],
        "sample_rate": 16000,
    }
    for bad in ("/abs", "datasets/../d", "datasets//d", "./datasets/d"):
        with pytest.raises(ValueError, match="normalised relative"):
            expected_dataset(ws, bad)


@pytest.mark.parametrize(("row", "message"), [
    (DatasetRow("", "t"), "id '' does not match"),
    (DatasetRow("a b", "t"), "does not match"),
    (DatasetRow("é", "t"), "does not match"),
    (DatasetRow("x" * 65, "t"), "does not match"),
    (DatasetRow("ok", "a|b"), "text contains '|'"),
    (DatasetRow("ok", "a\nb"), "line break U+000A"),
    (DatasetRow("ok", "a\rb"), "line break U+000D"),
    (DatasetRow("ok", "a\u2028b"), "line break U+2028"),
    (DatasetRow("ok", "t", "n|n"), "normalized_text contains '|'"),
    (DatasetRow("ok", "bad \ud800"), "not encodable as UTF-8"),
    (DatasetRow("ok", "t", sample_rate=7999), "sample_rate must be"),
    (DatasetRow("ok", "t", sample_rate=48001), "sample_rate must be"),
    (DatasetRow("ok", "t", duration_s=0.0), "duration_s"),
    (DatasetRow("ok", "t", f0_hz=1000.0), "f0_hz"),
])
def test_invalid_rows_are_rejected_and_nothing_is_left(ws: Workspace, row: DatasetRow,
                                                       message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_dataset(ws, "bad", [DatasetRow("fine", "fine"), row])
    assert list(ws.datasets.iterdir()) == []


def test_dataset_level_errors(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        write_dataset(ws, "empty", [])
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        write_dataset(ws, "dup", [DatasetRow("a", "1"), DatasetRow("a", "2")])
    for name in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="dataset name"):
            write_dataset(ws, name, [DatasetRow("a", "1")])
    write_dataset(ws, "once", [DatasetRow("a", "1")])
    with pytest.raises(ValueError, match="already exists"):
        write_dataset(ws, "once", [DatasetRow("a", "1")])


def audit(ws: Workspace, rel: str) -> set[str]:
    """Every SPEC 4 problem of a dataset, named like the broken variants."""
    root = ws.root / rel
    problems: set[str] = set()
    meta = root / "metadata.csv"
    if not meta.exists():
        problems.add("no-metadata")
        raw = b""
    else:
        raw = meta.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.add("bad-utf8")
        text = raw.decode("latin-1")
    rows = [line.split("|") for line in text.splitlines()]
    if meta.exists() and not rows:
        problems.add("no-rows")
    for fields in rows:
        if len(fields) not in (2, 3):
            problems.add("wrong-field-count")
        if not ID.fullmatch(fields[0]):
            problems.add("bad-id")
        path = root / "wavs" / f"{fields[0]}.wav"
        if not path.exists():
            problems.add("missing-wav")
            continue
        try:
            info = wav.read_info(path)
        except wav.InvalidWav:
            problems.add("corrupt-wav")
            continue
        if (info.channels, info.sample_width) != (1, 2) or not 8000 <= info.sample_rate <= 48000:
            problems.add("wrong-format")
    for path in (root / "wavs").iterdir():
        try:
            wav.read_info(path)
        except wav.InvalidWav:
            problems.add("corrupt-wav")
    return problems


def test_audit_finds_nothing_wrong_in_a_valid_dataset(ws: Workspace) -> None:
    rel = write_dataset(ws, "ok", [DatasetRow("a", "x"), DatasetRow("b", "y", "z")])
    assert audit(ws, rel) == set()


@pytest.mark.parametrize("variant", sorted(BROKEN_DATASET_VARIANTS))
def test_broken_variant_is_broken_in_exactly_its_way(ws: Workspace, variant: str) -> None:
    rel = BROKEN_DATASET_VARIANTS[variant](ws, f"broken-{variant}")
    assert rel == f"datasets/broken-{variant}"
    assert (ws.root / rel / "wavs").is_dir()
    assert audit(ws, rel) == {variant}
    with pytest.raises(ValueError):
        expected_dataset(ws, rel)


def test_broken_variant_keys_are_spec_cases() -> None:
    assert set(BROKEN_DATASET_VARIANTS) == {
        "no-metadata", "missing-wav", "corrupt-wav", "bad-utf8", "no-rows", "bad-id",
        "wrong-field-count"}


def test_all_variants_coexist_in_one_workspace(ws: Workspace) -> None:
    for variant, make in BROKEN_DATASET_VARIANTS.items():
        make(ws, variant)
    assert sorted(p.name for p in ws.datasets.iterdir()) == sorted(BROKEN_DATASET_VARIANTS)


def _modes(top: Path) -> set[tuple[str, int]]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames:
            out.add(("d", stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode)))
        for name in filenames:
            out.add(("f", stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode)))
    return out


def test_protect_and_unprotect(ws: Workspace) -> None:
    write_dataset(ws, "p", [DatasetRow("a", "x")])
    protect_datasets(ws)
    assert stat.S_IMODE(ws.datasets.stat().st_mode) == 0o555
    assert _modes(ws.datasets) == {("d", 0o555), ("f", 0o444)}
    # The read-write areas stay writable.
    assert stat.S_IMODE(ws.outputs.stat().st_mode) & 0o200
    unprotect_datasets(ws)
    assert _modes(ws.datasets) == {("d", 0o755), ("f", 0o644)}
    write_dataset(ws, "q", [DatasetRow("a", "x")])


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores mode bits")
def test_protected_datasets_refuse_writes(ws: Workspace) -> None:
    rel = write_dataset(ws, "p", [DatasetRow("a", "x")])
    protect_datasets(ws)
    try:
        with pytest.raises(PermissionError):
            (ws.root / rel / "metadata.csv").write_text("a|changed\n")
        with pytest.raises(PermissionError):
            (ws.root / rel / "wavs" / "new.wav").write_bytes(b"")
        with pytest.raises(PermissionError):
            write_dataset(ws, "later", [DatasetRow("a", "x")])
    finally:
        unprotect_datasets(ws)
