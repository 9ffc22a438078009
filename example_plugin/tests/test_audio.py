"""The DSP the plugin's promises rest on: WAV parsing, resampling, F0, speaking time."""

from __future__ import annotations

import math
import random
import struct
from array import array
from itertools import pairwise
from pathlib import Path

import pytest
from helpers import tone, wav_bytes

from vcs_example_espeak import _audio


def harmonic(f0: float, seconds: float, rate: int, *, seed: int = 0) -> list[float]:
    """A voiced-speech-like signal: 12 harmonics with 1/k roll-off and a little jitter."""
    rng = random.Random(seed)
    phases = [rng.uniform(0, 2 * math.pi) for _ in range(12)]
    out = []
    phase = 0.0
    for _ in range(round(seconds * rate)):
        phase += 2 * math.pi * f0 * (1 + 0.005 * rng.uniform(-1, 1)) / rate
        out.append(0.3 * sum(math.sin(k * phase + phases[k - 1]) / k for k in range(1, 13)))
    return out


def test_reads_16_bit_mono_exactly(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes([0, 16384, -32768, 32767], 16000))
    samples, rate = _audio.read_mono(path, "a.wav")
    assert rate == 16000
    assert list(samples) == [0.0, 0.5, -1.0, 32767 / 32768]


@pytest.mark.parametrize("bits", [8, 24, 32])
def test_other_pcm_depths_read_to_the_same_scale(tmp_path: Path, bits: int) -> None:
    half = 1 << (bits - 2)
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes([half, -half], 8000, bits=bits))
    samples, _ = _audio.read_mono(path, "a.wav")
    assert list(samples) == [0.5, -0.5]


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes([16384, 0, -16384, -16384], 8000, channels=2))
    samples, _ = _audio.read_mono(path, "a.wav")
    assert list(samples) == [0.25, -0.5]


def test_extensible_pcm_header_is_accepted(tmp_path: Path) -> None:
    """sox and many recorders write WAVE_FORMAT_EXTENSIBLE for plain PCM."""
    payload = array("h", [1, 2, 3]).tobytes()
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert _audio.read_info(path, "x.wav").frames == 3


@pytest.mark.parametrize(("data", "fault"), [
    (b"", "not a RIFF/WAVE file"),
    (b"ID3\x03" + bytes(100), "not a RIFF/WAVE file"),
    (wav_bytes([1, 2], 8000, tag=3), "not PCM"),
    (wav_bytes([1, 2], 8000)[:36], "no data chunk"),
    (wav_bytes([1], 8000)[:-2] + b"", "truncated"),
    (b"RIFF\x10\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00", "before the fmt chunk"),
    (b"RIFF\x27\x00\x00\x00" + wav_bytes([1], 8000)[8:40] + b"\x03\x00\x00\x00\x01\x00\x02",
     "whole number"),
    (wav_bytes([1], 8000)[:28] + b"\x00\x00\x00\x00" + wav_bytes([1], 8000)[32:], "byte rate"),
    (wav_bytes([1], 8000)[:20], "fmt chunk is truncated"),
])
def test_broken_files_name_the_file_and_the_fault(tmp_path: Path, data: bytes,
                                                  fault: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"datasets/d/wavs/bad.wav: .*{fault}"):
        _audio.read_info(path, "datasets/d/wavs/bad.wav")


def test_streamed_placeholder_size_counts_the_bytes_present() -> None:
    """espeak-ng --stdout writes 0x7FFFFFFF-ish sizes; the data present is what counts."""
    data = bytearray(wav_bytes([5, 6, 7], 22050))
    data[40:44] = struct.pack("<I", 0x7FFFF000)
    pcm, rate = _audio.pcm16_from_bytes(bytes(data), "stdout")
    assert (list(pcm), rate) == ([5, 6, 7], 22050)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    pcm = array("h", [0, 1, -1, 32767, -32768])
    _audio.write_pcm16(tmp_path / "o.wav", pcm, 24000)
    info = _audio.read_info(tmp_path / "o.wav", "o.wav")
    assert (info.sample_rate, info.channels, info.sample_width, info.frames) == (24000, 1, 2, 5)
    samples, _ = _audio.read_mono(tmp_path / "o.wav", "o.wav")
    assert [round(s * 32768) for s in samples] == list(pcm)


@pytest.mark.parametrize("dst", [8000, 16000, 22050, 24000, 44100, 48000])
def test_resampling_keeps_duration_and_frequency(dst: int) -> None:
    pcm = array("h", tone(440.0, 0.5, 22050))
    out = _audio.resample(pcm, 22050, dst)
    assert len(out) == round(len(pcm) * dst / 22050)
    crossings = sum(1 for a, b in pairwise(out) if a < 0 <= b)
    assert abs(crossings / 0.5 - 440.0) <= 4  # one crossing per period

    def rms(x: array[int]) -> float:
        return math.sqrt(sum(v * v for v in x[50:-50]) / (len(x) - 100))

    assert rms(out) == pytest.approx(rms(pcm), rel=0.02)  # level kept


def test_downsampling_removes_what_would_alias() -> None:
    """A 10 kHz tone has no place in 16 kHz audio; without a filter it folds to 6 kHz."""
    pcm = array("h", tone(10000.0, 0.2, 22050))
    out = _audio.resample(pcm, 22050, 16000)
    rms = math.sqrt(sum(s * s for s in out[100:-100]) / (len(out) - 200))
    assert rms < 0.1 * 0.5 * 32767 / math.sqrt(2)  # at least 20 dB down


@pytest.mark.parametrize("f0", [70.0, 100.0, 140.0, 220.0, 350.0])
@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_f0_of_a_harmonic_signal_is_found_within_2_percent(f0: float, rate: int) -> None:
    found = _audio.median_f0(harmonic(f0, 1.0, rate), rate)
    assert found is not None
    assert abs(found - f0) / f0 < 0.02


def test_missing_fundamental_is_still_heard() -> None:
    """Telephone-band speech lacks its F0 partial; the period is still there."""
    rate = 8000
    x = [sum(math.sin(2 * math.pi * k * 110.0 * i / rate) for k in range(3, 8))
         for i in range(rate)]
    found = _audio.median_f0(x, rate)
    assert found is not None and abs(found - 110.0) / 110.0 < 0.02


def test_silence_and_noise_have_no_f0() -> None:
    rng = random.Random(1)
    assert _audio.f0_track([0.0] * 22050, 22050) == []
    assert _audio.median_f0([rng.uniform(-0.5, 0.5) for _ in range(22050)], 22050) is None
    assert _audio.f0_track([0.1] * 10, 22050) == []  # shorter than a frame


def test_active_duration_ignores_leading_and_trailing_silence() -> None:
    rate = 16000
    x = [0.0] * rate + [v / 32768 for v in tone(200.0, 2.0, rate)] + [0.0] * (rate // 2)
    assert abs(_audio.active_duration_s(x, rate) - 2.0) <= 0.04
    assert _audio.active_duration_s([0.0] * rate, rate) == 0.0
    assert _audio.active_duration_s([], rate) == 0.0
