"""espeak-ng as a subprocess, and the calibration that turns targets into its options.

Why a subprocess and not a binding: espeak-ng's command line is stable across
distributions, needs no compiler or Python wheel, and a hung or crashing
synthesiser cannot take the plugin down with it (it gets a timeout instead).

How it is called, and why:

* an argument list, never a shell: nothing in the text or the voice id can
  be interpreted as shell syntax;
* the text goes over stdin (``--stdin``), never on the command line: any
  length and any Unicode work, and text starting with ``-`` is not an option;
* ``-b 1`` says the input is UTF-8 whatever the locale (the sandbox sets none);
* ``--stdout``: the WAV comes back through a pipe, so there is no scratch file
  to place, name and clean up.

espeak-ng does not check its input: it exits 0 on invalid UTF-8, stops at a
NUL byte and reads ``[[...]]`` as phoneme codes, which can turn ordinary
text into silence.  :func:`speakable` neutralises all of that, and the hooks
validate the text before it gets here.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import unicodedata
from array import array
from itertools import pairwise
from typing import Final

from ._audio import WavError, pcm16_from_bytes

__all__ = [
    "DEFAULT_F0_HZ",
    "DEFAULT_WPM",
    "EspeakError",
    "f0_for_pitch",
    "pitch_for_f0",
    "speak",
    "speakable",
    "wpm_for",
]

#: espeak-ng's own default speed (words per minute).
DEFAULT_WPM: Final = 175
#: Below 80 wpm espeak-ng silently uses 80; above ~1000 sonic speed-up garbles.
MIN_WPM: Final = 80
MAX_WPM: Final = 1000
#: Median F0 (Hz) of en-us output at each ``-p`` value, measured with this
#: package's own estimator (:func:`vcs_example_espeak._audio.median_f0`) over
#: four sentences (espeak-ng 1.51).  The other declared voices lie within 5 %
#: of en-us at ``-p 50``, so one table serves them all.  Re-measure with
#: ``python -m vcs_example_espeak._calibrate`` after an espeak-ng upgrade.
CALIBRATION: Final[tuple[tuple[int, float], ...]] = (
    (0, 68.0), (10, 72.5), (20, 77.5), (30, 84.3), (40, 92.1), (50, 101.4),
    (60, 111.8), (70, 123.5), (80, 137.7), (90, 154.1), (99, 170.1),
)
#: What an untrained voice sounds like: espeak-ng's default ``-p 50``.
DEFAULT_F0_HZ: Final = 101.4
_TIMEOUT_S: Final = 300.0


class EspeakError(RuntimeError):
    """espeak-ng is missing or failed: an environment fault, not bad input."""


def pitch_for_f0(f0_hz: float) -> int:
    """The ``-p`` value (0-99) whose output has median F0 closest to ``f0_hz``.

    F0 grows roughly exponentially with ``-p``, so the table is interpolated
    in log frequency; targets outside espeak-ng's range clamp to its ends.
    """
    target = math.log(max(f0_hz, 1.0))
    points = [(p, math.log(hz)) for p, hz in CALIBRATION]
    if target <= points[0][1]:
        return points[0][0]
    for (p0, l0), (p1, l1) in pairwise(points):
        if target <= l1:
            return round(p0 + (p1 - p0) * (target - l0) / (l1 - l0))
    return points[-1][0]


def f0_for_pitch(pitch: int) -> float:
    """Inverse of :func:`pitch_for_f0`: expected median F0 of ``-p pitch``."""
    for (p0, h0), (p1, h1) in pairwise(CALIBRATION):
        if p0 <= pitch <= p1:
            return float(h0 * (h1 / h0) ** ((pitch - p0) / (p1 - p0)))
    return CALIBRATION[0][1] if pitch < 0 else CALIBRATION[-1][1]


def wpm_for(tempo: float, rate: float) -> int:
    """espeak-ng speed for a trained ``tempo`` (1.0 = espeak's own) times ``rate``."""
    return max(MIN_WPM, min(MAX_WPM, round(DEFAULT_WPM * tempo * rate)))


def speakable(text: str) -> str:
    """``text`` with what espeak-ng would misread made harmless.

    Control characters (NUL ends espeak-ng's input early) become spaces and
    ``[[``/``]]`` are split so no phoneme-code mode starts.  The text is put
    in NFC so that a composed and a decomposed accent sound the same.
    """
    cleaned = "".join(" " if unicodedata.category(ch) == "Cc" and ch not in "\t\n" else ch
                      for ch in unicodedata.normalize("NFC", text))
    while "[[" in cleaned or "]]" in cleaned:
        cleaned = cleaned.replace("[[", "[ [").replace("]]", "] ]")
    return cleaned


def _executable() -> str:
    found = shutil.which("espeak-ng") or shutil.which("espeak-ng", path=os.defpath)
    if found is None:
        raise EspeakError("espeak-ng is not installed (not on PATH); install it, e.g. "
                          "'apt-get install espeak-ng', 'dnf install espeak-ng' or "
                          "'brew install espeak-ng'")
    return found


def speak(text: str, *, voice: str, wpm: int = DEFAULT_WPM, pitch: int = 50,
          word_gap: int = 0, amplitude: int = 100) -> tuple[array[int], int]:
    """Synthesise ``text``; return 16-bit mono samples and their rate.

    ``text`` must already be valid (the hooks check it); ``word_gap`` is in
    units of 10 ms, as espeak-ng's ``-g``.
    """
    args = [_executable(), "-v", voice, "-s", str(wpm), "-p", str(pitch), "-g", str(word_gap),
            "-a", str(amplitude), "-b", "1", "--stdin", "--stdout"]
    try:
        proc = subprocess.run(args, input=speakable(text).encode("utf-8"),
                              capture_output=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EspeakError(f"espeak-ng did not finish within {_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise EspeakError(f"cannot run espeak-ng: {exc}") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise EspeakError(f"espeak-ng exited with status {proc.returncode}: {stderr[:500]}")
    try:
        pcm, rate = pcm16_from_bytes(proc.stdout, "espeak-ng output")
    except WavError as exc:
        raise EspeakError(f"{exc} (stderr: {stderr[:500]})") from None
    return pcm, rate
