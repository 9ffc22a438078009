"""Training: measure a speaker's pitch and tempo, and keep them as a voice profile.

espeak-ng is a formant synthesiser, so "training" it cannot mean learning a
voice; it means measuring what espeak-ng can imitate and storing the result:

* **F0**: the median fundamental frequency over every voiced 40 ms frame of
  the dataset, pooled across files (a median of frames, not of per-file
  medians, so long files weigh more, as they should).  ``synthesize`` picks
  the ``-p`` value whose output has that median F0.
* **tempo**: how fast the speaker talks *relative to espeak-ng*.  Each text
  is rendered by espeak-ng at its default speed and the speaking time (first
  to last non-silent frame) compared with the recording's.  Comparing the
  same texts cancels out word length and language, which a raw words per
  second figure cannot; words per second is still reported as a metric
  because people understand it.

The profile is a small JSON file under ``models/``: readable, diffable and
safe to load (no pickle).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any, Final

from . import _audio, _espeak
from ._dataset import Item

__all__ = ["PROFILE_FORMAT", "Profile", "load_profile", "train_profile"]

PROFILE_FORMAT: Final = "vcs-example-espeak/voice-profile"
PROFILE_VERSION: Final = 1
#: espeak-ng's speed range divided by its default: what a tempo can reach.
MIN_TEMPO: Final = 0.25
MAX_TEMPO: Final = 4.0
_MAX_PROFILE_BYTES: Final = 1 << 20

Progress = Callable[[float, str], object]


@dataclass(frozen=True)
class Profile:
    """A trained voice: ``f0_hz`` is None when the dataset had no voiced speech."""

    f0_hz: float | None
    tempo: float
    words_per_second: float
    files: int
    voiced_frames: int

    def metrics(self) -> dict[str, float]:
        """Model metrics (SPEC 5): numbers only; 0.0 F0 means none was found."""
        return {"f0_hz": round(self.f0_hz or 0.0, 2),
                "words_per_second": round(self.words_per_second, 3),
                "files": float(self.files), "tempo": round(self.tempo, 3),
                "voiced_frames": float(self.voiced_frames)}


def count_words(text: str) -> int:
    """Whitespace-separated tokens holding a letter or digit (punctuation is no word)."""
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


def train_profile(items: list[Item], *, voice: str, progress: Progress) -> Profile:
    """Analyse every item, reporting progress after each file."""
    frames: list[float] = []
    words = 0
    spoken_s = 0.0
    reference_s = 0.0
    matched_s = 0.0
    total = len(items)
    for index, item in enumerate(items, start=1):
        samples, rate = _audio.read_mono(item.path, item.audio)
        frames += _audio.f0_track(samples, rate)
        active = _audio.active_duration_s(samples, rate)
        spoken_s += active
        n_words = count_words(item.text)
        words += n_words
        if n_words and active > 0:
            # Lone surrogates cannot reach espeak-ng; in a training text they
            # only matter for timing, so they become U+FFFD here.
            text = item.text.encode("utf-8", "replace").decode("utf-8")
            pcm, ref_rate = _espeak.speak(text, voice=voice)
            ref = _audio.active_duration_s([s / 32768.0 for s in pcm], ref_rate)
            if ref > 0:
                reference_s += ref
                matched_s += active
        progress(95.0 * index / total, f"analysed {item.id} ({index}/{total})")
    tempo = reference_s / matched_s if matched_s > 0 else 1.0
    return Profile(
        f0_hz=median(frames) if frames else None,
        tempo=min(MAX_TEMPO, max(MIN_TEMPO, tempo)),
        words_per_second=words / spoken_s if spoken_s > 0 else 0.0,
        files=total,
        voiced_frames=len(frames),
    )


def save_profile(workspace: Path, profile: Profile) -> str:
    """Write ``profile`` under ``models/``; return its workspace-relative path.

    Written to a hidden temporary name and renamed, so a reader never sees a
    half-written profile and a crash leaves no file that looks finished.
    """
    models = workspace / "models"
    models.mkdir(exist_ok=True)
    rel = f"models/espeak-profile-{uuid.uuid4().hex[:12]}.json"
    data = {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "f0_hz": profile.f0_hz,
            "tempo": profile.tempo, "words_per_second": profile.words_per_second,
            "files": profile.files, "voiced_frames": profile.voiced_frames}
    partial = models / f".{uuid.uuid4().hex}.partial"
    try:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, workspace / rel)
    finally:
        partial.unlink(missing_ok=True)
    return rel


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        return None
    return float(value)


def load_profile(path: Path, rel: str) -> Profile:
    """Read a profile written by :func:`save_profile`; ``ValueError`` if it is not one."""
    field = f"voice_config.model {rel!r}"
    try:
        if path.stat().st_size > _MAX_PROFILE_BYTES:
            raise ValueError(f"{field} is too large to be a voice profile of this plugin")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{field} is not a voice profile of this plugin "
                         f"(cannot read it as JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise ValueError(f"{field} is not a voice profile of this plugin (train with "
                         f"vcs-example-espeak to make one)")
    if data.get("version") != PROFILE_VERSION:
        raise ValueError(f"{field} has profile version {data.get('version')!r}; this plugin "
                         f"reads version {PROFILE_VERSION}")
    f0 = _number(data, "f0_hz", _audio.F0_MIN_HZ, _audio.F0_MAX_HZ)
    tempo = _number(data, "tempo", MIN_TEMPO, MAX_TEMPO)
    if tempo is None or (data.get("f0_hz") is not None and f0 is None):
        raise ValueError(f"{field} is a damaged voice profile (f0_hz or tempo out of range)")
    return Profile(f0_hz=f0, tempo=tempo,
                   words_per_second=_number(data, "words_per_second", 0, 1e6) or 0.0,
                   files=int(_number(data, "files", 0, 1e12) or 0),
                   voiced_frames=int(_number(data, "voiced_frames", 0, 1e12) or 0))
