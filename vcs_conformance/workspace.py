"""Project workspaces and LJSpeech datasets with real audio (SPEC 4, 7).

The checks hand plugins *real* datasets: a ``metadata.csv`` exactly as
SPEC 4 describes and genuine PCM 16-bit mono WAVs from
:func:`vcs_conformance.wav.speechlike`, because plugins read them with
their own tools (soundfile, librosa, torchaudio, ``wave``) and a fake file
would test those tools' error paths instead of the plugin.  The broken
variants of SPEC 7's ``preprocess-invalid`` are each broken in exactly one
way and otherwise valid, so a plugin that rejects them rejects them for the
right reason.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from vcs_conformance import wav

__all__ = [
    "BROKEN_DATASET_VARIANTS",
    "DatasetRow",
    "Workspace",
    "create_workspace",
    "expected_dataset",
    "protect_datasets",
    "unprotect_datasets",
    "write_dataset",
]

#: SPEC 4: dataset item ids.
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Dataset directory names: a safe single path component.
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
#: Everything ``str.splitlines`` breaks on.  SPEC 4 forbids "line breaks" in
#: texts; a plugin may read metadata with ``splitlines`` (which also breaks
#: on U+2028, U+0085, form feed...), so a *valid* dataset avoids them all.
_LINE_BREAKS: Final = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
MIN_RATE: Final = 8000
MAX_RATE: Final = 48000


@dataclass(frozen=True)
class Workspace:
    """A project workspace in SPEC 4's layout; ``root`` is absolute and resolved."""

    root: Path

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    def path(self, relative: str) -> Path:
        """The absolute path of a workspace-relative POSIX path (no checks)."""
        return self.root.joinpath(*relative.split("/"))


def create_workspace(root: str | os.PathLike[str]) -> Workspace:
    """Make (or reuse) the layout under ``root``.

    ``root`` is resolved (symlinks followed) because SPEC 4 checks that
    paths "resolve inside the workspace": comparing resolved paths against
    an unresolved root (``/tmp`` is a symlink on macOS) would reject good
    results.
    """
    base = Path(root).resolve()
    if base.exists() and not base.is_dir():
        raise ValueError(f"workspace root {base} exists and is not a directory")
    ws = Workspace(base)
    for area in (ws.datasets, ws.cache, ws.models, ws.outputs):
        area.mkdir(parents=True, exist_ok=True)
    return ws


@dataclass(frozen=True)
class DatasetRow:
    """One metadata row and the audio written for it."""

    id: str
    text: str
    normalized_text: str | None = None
    sample_rate: int = 22050
    duration_s: float = 0.5
    f0_hz: float = 120.0


def _check_text(field: str, value: object, where: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{where}: {field} must be a str, got {type(value).__name__}")
    if "|" in value:
        raise ValueError(f"{where}: {field} contains '|', the metadata field separator")
    bad = next((c for c in value if c in _LINE_BREAKS), None)
    if bad is not None:
        raise ValueError(f"{where}: {field} contains the line break U+{ord(bad):04X}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: {field} is not encodable as UTF-8 ({exc.reason} at "
                         f"index {exc.start})") from None


def _check_row(row: DatasetRow, index: int) -> None:
    where = f"row {index}"
    if not isinstance(row.id, str) or not ID_PATTERN.fullmatch(row.id):
        raise ValueError(f"{where}: id {row.id!r} does not match [A-Za-z0-9_-]{{1,64}}")
    where = f"row {index} (id {row.id!r})"
    _check_text("text", row.text, where)
    if row.normalized_text is not None:
        _check_text("normalized_text", row.normalized_text, where)
    if isinstance(row.sample_rate, bool) or not isinstance(row.sample_rate, int) \
            or not MIN_RATE <= row.sample_rate <= MAX_RATE:
        raise ValueError(f"{where}: sample_rate must be an int in [{MIN_RATE}, {MAX_RATE}], "
                         f"got {row.sample_rate!r}")
    if not isinstance(row.duration_s, int | float) or not 0 < row.duration_s < 3600 \
            or round(row.duration_s * row.sample_rate) < 1:
        raise ValueError(f"{where}: duration_s must give at least one frame and stay under "
                         f"an hour, got {row.duration_s!r}")
    if not isinstance(row.f0_hz, int | float) or not 50 <= row.f0_hz <= 500:
        raise ValueError(f"{where}: f0_hz must be in [50, 500] Hz, got {row.f0_hz!r}")


def _metadata_line(row: DatasetRow) -> str:
    fields = [row.id, row.text]
    if row.normalized_text is not None:
        fields.append(row.normalized_text)
    return "|".join(fields) + "\n"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"dataset name {name!r} must match {NAME_PATTERN.pattern}")


def _publish(ws: Workspace, name: str, fill: Callable[[Path], None]) -> str:
    """Build the dataset in a private temp dir, then rename it into place.

    Why: a dataset appears whole or not at all, so a concurrent reader (or
    an interrupted run) never sees half of one.
    """
    _check_name(name)
    final = ws.datasets / name
    if final.exists():
        raise ValueError(f"dataset {name!r} already exists in {ws.datasets}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=ws.datasets))
    try:
        (tmp / "wavs").mkdir()
        fill(tmp)
        tmp.chmod(0o755)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return f"datasets/{name}"


def _write_wavs(directory: Path, rows: Iterable[DatasetRow], seed_base: int = 0) -> None:
    for i, row in enumerate(rows):
        samples = wav.speechlike(row.duration_s, row.sample_rate, f0_hz=row.f0_hz,
                                 seed=seed_base + i)
        wav.write_pcm16(directory / "wavs" / f"{row.id}.wav", samples, row.sample_rate)


def write_dataset(ws: Workspace, name: str, rows: Iterable[DatasetRow]) -> str:
    """Write a *valid* LJSpeech dataset; return ``datasets/<name>``.

    ``metadata.csv`` is UTF-8 without header, one ``id|text`` or
    ``id|text|normalized`` line per row, ``\\n``-terminated, written raw
    (no CSV quoting: LJSpeech readers use ``quoting=QUOTE_NONE`` and a text
    may contain quotes).  Rows that would make the dataset invalid
    (bad id, duplicate id, ``|`` or a line break in a text, no rows) are a
    ``ValueError``: broken datasets come only from
    :data:`BROKEN_DATASET_VARIANTS`.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("a dataset needs at least one row (see BROKEN_DATASET_VARIANTS "
                         "['no-rows'] for the broken variant)")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, DatasetRow):
            raise ValueError(f"row {i}: expected a DatasetRow, got {type(row).__name__}")
        _check_row(row, i)
        if row.id in seen:
            raise ValueError(f"row {i}: duplicate id {row.id!r}")
        seen.add(row.id)

    def fill(tmp: Path) -> None:
        (tmp / "metadata.csv").write_bytes(
            "".join(_metadata_line(r) for r in rows).encode("utf-8"))
        _write_wavs(tmp, rows)

    return _publish(ws, name, fill)


def _dataset_path(ws: Workspace, dataset_dir: str) -> Path:
    parts = dataset_dir.split("/")
    if dataset_dir.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"dataset_dir {dataset_dir!r} is not a normalised relative POSIX path")
    return ws.path(dataset_dir)


def expected_dataset(ws: Workspace, dataset_dir: str) -> dict[str, Any]:
    """The 1.2 ``Dataset`` a correct ``preprocess(dataset_dir)`` returns.

    Items follow the metadata rows in order; ``text`` is the second field
    (the raw text, not the normalised one); ``duration_s`` is read from
    each WAV header.  ``sample_rate`` is the rate all items share, or the
    first item's when they differ: SPEC 5 gives a Dataset a single rate, and
    "the first item's" is what a plugin that resamples everything to one
    rate most plausibly reports.  Raises ``ValueError`` when the dataset is
    not valid, naming the file and row.
    """
    root = _dataset_path(ws, dataset_dir)
    meta = root / "metadata.csv"
    try:
        raw = meta.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{dataset_dir}/metadata.csv does not exist") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{dataset_dir}/metadata.csv is not UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    items: list[dict[str, Any]] = []
    rates: list[int] = []
    for number, line in enumerate(lines, start=1):
        fields = line.removesuffix("\r").split("|")
        where = f"{dataset_dir}/metadata.csv line {number}"
        if len(fields) not in (2, 3):
            raise ValueError(f"{where}: {len(fields)} fields, expected 2 or 3")
        item_id, item_text = fields[0], fields[1]
        if not ID_PATTERN.fullmatch(item_id):
            raise ValueError(f"{where}: id {item_id!r} does not match [A-Za-z0-9_-]{{1,64}}")
        audio = f"{dataset_dir}/wavs/{item_id}.wav"
        try:
            info = wav.read_info(ws.path(audio))
        except FileNotFoundError:
            raise ValueError(f"{where}: {audio} does not exist") from None
        if info.channels != 1 or info.sample_width != 2 \
                or not MIN_RATE <= info.sample_rate <= MAX_RATE:
            raise ValueError(f"{where}: {audio} is not 16-bit mono PCM at 8000-48000 Hz")
        items.append({"id": item_id, "audio": audio, "text": item_text,
                      "duration_s": info.duration_s})
        rates.append(info.sample_rate)
    if not items:
        raise ValueError(f"{dataset_dir}/metadata.csv has no rows")
    return {"items": items, "sample_rate": rates[0]}


# --- broken variants (SPEC 7, preprocess-invalid) ---------------------------

_BASE_ROWS: Final = (
    DatasetRow("LJ001-0001", "Printing, in the only sense with which we are concerned.",
               sample_rate=16000, duration_s=0.3),
    DatasetRow("LJ001-0002", "In being comparatively modern.", "in being comparatively modern",
               sample_rate=16000, duration_s=0.25, f0_hz=180.0),
)


def _write_metadata(tmp: Path, lines: Iterable[bytes]) -> None:
    (tmp / "metadata.csv").write_bytes(b"".join(lines))


def _base_lines() -> list[bytes]:
    return [_metadata_line(r).encode("utf-8") for r in _BASE_ROWS]


def _no_metadata(ws: Workspace, name: str) -> str:
    """Audio present, ``metadata.csv`` absent."""
    return _publish(ws, name, lambda tmp: _write_wavs(tmp, _BASE_ROWS))


def _missing_wav(ws: Workspace, name: str) -> str:
    """A row whose ``wavs/<id>.wav`` does not exist."""
    def fill(tmp: Path) -> None:
        _write_metadata(tmp, _base_lines())
        _write_wavs(tmp, _BASE_ROWS[:1])
    return _publish(ws, name, fill)


def _corrupt_wav(ws: Workspace, name: str) -> str:
    """A row whose WAV starts like one but is cut off inside the fmt chunk."""
    def fill(tmp: Path) -> None:
        _write_metadata(tmp, _base_lines())
        _write_wavs(tmp, _BASE_ROWS)
        victim = tmp / "wavs" / f"{_BASE_ROWS[1].id}.wav"
        victim.write_bytes(victim.read_bytes()[:30])
    return _publish(ws, name, fill)


def _bad_utf8(ws: Workspace, name: str) -> str:
    """A text encoded as Latin-1 (``café``): the classic non-UTF-8 metadata."""
    def fill(tmp: Path) -> None:
        lines = _base_lines()
        lines[1] = f"{_BASE_ROWS[1].id}|Un caf".encode() + b"\xe9 au lait\n"
        _write_metadata(tmp, lines)
        _write_wavs(tmp, _BASE_ROWS)
    return _publish(ws, name, fill)


def _no_rows(ws: Workspace, name: str) -> str:
    """An empty ``metadata.csv`` and an empty ``wavs/``."""
    return _publish(ws, name, lambda tmp: _write_metadata(tmp, []))


BAD_ID: Final = "bad id!"


def _bad_id(ws: Workspace, name: str) -> str:
    """A row whose id has a space and ``!``; its WAV exists under that name."""
    bad = DatasetRow(BAD_ID, "An id that breaks the pattern.", sample_rate=16000,
                     duration_s=0.2)

    def fill(tmp: Path) -> None:
        _write_metadata(tmp, [*_base_lines(), _metadata_line(bad).encode("utf-8")])
        _write_wavs(tmp, [*_BASE_ROWS, bad])
    return _publish(ws, name, fill)


def _wrong_field_count(ws: Workspace, name: str) -> str:
    """One row with a single field and one with four; all WAVs exist."""
    extra = (DatasetRow("LJ001-0003", "", sample_rate=16000, duration_s=0.2),
             DatasetRow("LJ001-0004", "", sample_rate=16000, duration_s=0.2))

    def fill(tmp: Path) -> None:
        _write_metadata(tmp, [*_base_lines(), b"LJ001-0003\n",
                              b"LJ001-0004|Four|fields|here\n"])
        _write_wavs(tmp, [*_BASE_ROWS, *extra])
    return _publish(ws, name, fill)


#: SPEC 7 ``preprocess-invalid`` case -> writer of a dataset broken in just
#: that way; each takes ``(workspace, name)`` and returns ``datasets/<name>``.
BROKEN_DATASET_VARIANTS: Final[dict[str, Callable[[Workspace, str], str]]] = {
    "no-metadata": _no_metadata,
    "missing-wav": _missing_wav,
    "corrupt-wav": _corrupt_wav,
    "bad-utf8": _bad_utf8,
    "no-rows": _no_rows,
    "bad-id": _bad_id,
    "wrong-field-count": _wrong_field_count,
}


def _chmod_tree(top: Path, dir_mode: int, file_mode: int) -> None:
    # Directories are opened up first when unprotecting (so we can descend)
    # and closed last when protecting (top-down walk still works as root
    # and as owner, since 0o555 keeps r-x).
    top.chmod(dir_mode)
    for dirpath, dirnames, filenames in os.walk(top):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), dir_mode, follow_symlinks=False)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, file_mode)


def protect_datasets(ws: Workspace) -> None:
    """Make ``datasets/`` read-only (dirs 0o555, files 0o444).

    SPEC 4 says datasets are read-only to the plugin; the strict sandbox
    also binds them read-only, and this covers the weaker levels.  (Root
    ignores mode bits: there only the sandbox's read-only bind helps.)
    Call :func:`unprotect_datasets` before writing another dataset.
    """
    _chmod_tree(ws.datasets, 0o555, 0o444)


def unprotect_datasets(ws: Workspace) -> None:
    """Undo :func:`protect_datasets` (dirs 0o755, files 0o644)."""
    _chmod_tree(ws.datasets, 0o755, 0o644)
