"""Re-measure the pitch calibration table: ``python -m vcs_example_espeak._calibrate``.

Why a script: ``_espeak.CALIBRATION`` maps espeak-ng's ``-p`` to the median
F0 this package's estimator measures.  A new espeak-ng release may move its
pitch scale; ``tests/test_espeak.py`` then fails and this prints the table to
paste back.  It renders the same four sentences at each ``-p`` and reports
the median over sentences.
"""

from __future__ import annotations

from statistics import median

from . import _audio, _espeak

SENTENCES = (
    "The quick brown fox jumps over the lazy dog while seven wizards quietly judge the match.",
    "Printing, in the only sense with which we are at present concerned, differs from most "
    "if not from all the arts and crafts.",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
)


def measure(pitch: int, voice: str = "en-us") -> float:
    """Median over :data:`SENTENCES` of each rendering's median F0 at ``-p pitch``."""
    values = []
    for text in SENTENCES:
        pcm, rate = _espeak.speak(text, voice=voice, pitch=pitch)
        found = _audio.median_f0([s / 32768.0 for s in pcm], rate)
        if found is not None:
            values.append(found)
    return median(values)


def main() -> None:
    rows = [(p, round(measure(p), 1)) for p, _ in _espeak.CALIBRATION]
    print("CALIBRATION: Final[tuple[tuple[int, float], ...]] = (")
    print("    " + ", ".join(f"({p}, {hz})" for p, hz in rows) + ",")
    print(")")


if __name__ == "__main__":
    main()
