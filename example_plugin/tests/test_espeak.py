"""The espeak-ng wrapper: calibration, input hygiene and the subprocess itself."""

from __future__ import annotations

import pytest
from helpers import SENTENCES

from vcs_example_espeak import _audio, _espeak


def as_float(pcm: object) -> list[float]:
    return [s / 32768.0 for s in pcm]  # type: ignore[attr-defined]


def test_pitch_mapping_is_monotonic_and_inverts_the_table() -> None:
    for p, hz in _espeak.CALIBRATION:
        assert _espeak.pitch_for_f0(hz) == p
        assert _espeak.f0_for_pitch(p) == pytest.approx(hz)
    values = [_espeak.pitch_for_f0(hz) for hz in range(40, 300, 5)]
    assert values == sorted(values)
    assert (values[0], values[-1]) == (0, 99)
    assert _espeak.pitch_for_f0(_espeak.DEFAULT_F0_HZ) == 50


def test_speed_follows_tempo_and_rate_within_espeak_limits() -> None:
    assert _espeak.wpm_for(1.0, 1.0) == 175
    assert _espeak.wpm_for(2.0, 1.0) == _espeak.wpm_for(1.0, 2.0) == 350
    assert _espeak.wpm_for(1.0, 0.25) == _espeak.MIN_WPM
    assert _espeak.wpm_for(4.0, 4.0) == _espeak.MAX_WPM


@pytest.mark.parametrize(("text", "expected"), [
    ("a\x00b", "a b"),  # NUL would end espeak-ng's input
    ("\x1bq\x07", " q "),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("[[q]]", "[ [q] ]"),  # phoneme-code mode: would be silence
    ("[[[q]]]", "[ [ [q] ] ]"),
    ("e\u0301", "\u00e9"),  # NFC
])
def test_speakable_neutralises_what_espeak_misreads(text: str, expected: str) -> None:
    assert _espeak.speakable(text) == expected


@pytest.mark.parametrize("text", ["[[[q]]]", "\x00hello", "[[_]] x"])
def test_text_that_fools_raw_espeak_still_makes_sound(text: str) -> None:
    pcm, _ = _espeak.speak(text, voice="en-us")
    assert max(map(abs, pcm)) > 1000


def test_speak_returns_22050_hz_audio_of_the_requested_length() -> None:
    slow, rate = _espeak.speak(SENTENCES[0], voice="en-us", wpm=120)
    fast, _ = _espeak.speak(SENTENCES[0], voice="en-us", wpm=240)
    assert rate == 22050
    assert 1.6 < len(slow) / len(fast) < 2.4


@pytest.mark.parametrize("pitch", [20, 50, 80])
def test_calibration_table_matches_this_espeak(pitch: int) -> None:
    """Fails after an espeak-ng upgrade that moves its pitch scale: re-measure then."""
    pcm, rate = _espeak.speak(" ".join(SENTENCES[:3]), voice="en-us", pitch=pitch)
    measured = _audio.median_f0(as_float(pcm), rate)
    assert measured is not None
    assert measured == pytest.approx(_espeak.f0_for_pitch(pitch), rel=0.05)


def test_missing_espeak_is_an_environment_error_not_bad_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda *a, **k: None)
    with pytest.raises(_espeak.EspeakError, match="apt-get install espeak-ng"):
        _espeak.speak("hello", voice="en-us")
    assert not issubclass(_espeak.EspeakError, ValueError)
