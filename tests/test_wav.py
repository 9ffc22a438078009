"""The WAV reader is what every audio verdict of the kit rests on.

Each rejection a user can meet is exercised with hand-built bytes, and real
encoder output (espeak-ng, sox) is read back.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from vcs_conformance import wav
from vcs_conformance.wav import InvalidWav

PCM_GUID = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
FLOAT_GUID = struct.pack("<H", 3) + PCM_GUID[2:]


def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    raw = struct.pack("<4sI", cid, len(body) if size is None else size) + body
    return raw + (b"\x00" if len(body) % 2 and size is None else b"")


def fmt_pcm(channels: int = 1, rate: int = 16000, bits: int = 16, *, tag: int = 1,
            block: int | None = None, byte_rate: int | None = None) -> bytes:
    block = channels * bits // 8 if block is None else block
    byte_rate = rate * block if byte_rate is None else byte_rate
    return struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, bits)


def fmt_ext(channels: int = 2, rate: int = 44100, bits: int = 24, *, guid: bytes = PCM_GUID,
            cb: int = 22, valid: int | None = None) -> bytes:
    base = fmt_pcm(channels, rate, bits, tag=0xFFFE)
    return base + struct.pack("<HHI", cb, bits if valid is None else valid, 3) + guid


def riff(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return struct.pack("<4sI", b"RIFF", len(body) if riff_size is None else riff_size) + body


def test_round_trip(tmp_path: Path) -> None:
    samples = array("h", [0, 1, -1, 32767, -32768, 1234, -4321] * 100)
    path = tmp_path / "a.wav"
    wav.write_pcm16(path, samples, 22050)
    info = wav.read_info(path)
    assert info == wav.WavInfo(sample_rate=22050, channels=1, sample_width=2,
                               frames=len(samples), format_tag=1)
    assert info.duration_s == pytest.approx(len(samples) / 22050)
    back, rate = wav.read_pcm16(path)
    assert rate == 22050 and back == samples
    # The standard library agrees with what we wrote.
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (
            22050, 1, 2, len(samples))
    assert wav.read_info_bytes(path.read_bytes(), "a.wav") == info


def test_write_accepts_plain_int_lists_and_rejects_bad_input(tmp_path: Path) -> None:
    wav.write_pcm16(tmp_path / "l.wav", [5, -5], 8000)
    assert wav.read_pcm16(tmp_path / "l.wav") == (array("h", [5, -5]), 8000)
    with pytest.raises(ValueError, match="samples"):
        wav.encode_pcm16([40000], 8000)
    for rate in (0, -1, 8000.0, True):
        with pytest.raises(ValueError, match="sample_rate"):
            wav.encode_pcm16([0], rate)  # type: ignore[arg-type]


def test_empty_data_is_zero_frames() -> None:
    info = wav.read_info_bytes(wav.encode_pcm16([], 16000), "e.wav")
    assert info.frames == 0 and info.duration_s == 0.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_real_espeak_output(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    subprocess.run(["espeak-ng", "-w", str(out), "hello"], check=True, capture_output=True)
    info = wav.read_info(out)
    assert (info.sample_rate, info.channels, info.sample_width, info.format_tag) == (
        22050, 1, 2, 1)
    with wave.open(str(out)) as w:
        assert info.frames == w.getnframes()
    samples, rate = wav.read_pcm16(out)
    assert rate == 22050 and len(samples) == info.frames
    assert not wav.is_silent(samples)
    assert 0.2 < info.duration_s < 2.0


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_real_sox_extensible_output(tmp_path: Path) -> None:
    """sox writes EXTENSIBLE for 24-bit stereo; ``wave`` refuses it, we must not."""
    out = tmp_path / "sx.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-b", "24", "-c", "2", str(out),
                    "synth", "0.1", "sine", "440"], check=True, capture_output=True)
    info = wav.read_info(out)
    assert info == wav.WavInfo(sample_rate=44100, channels=2, sample_width=3, frames=4410,
                               format_tag=wav.WAVE_FORMAT_EXTENSIBLE)
    with pytest.raises(InvalidWav, match="expected mono 16-bit PCM, found 2 channel"):
        wav.read_pcm16(out)


def test_extensible_pcm_hand_built() -> None:
    frames = 10
    data = riff(chunk(b"fmt ", fmt_ext()), chunk(b"fact", struct.pack("<I", frames)),
                chunk(b"data", bytes(6 * frames)))
    info = wav.read_info_bytes(data, "x.wav")
    assert info == wav.WavInfo(44100, 2, 3, frames, 0xFFFE)


def test_extensible_mono16_is_readable_as_pcm16(tmp_path: Path) -> None:
    payload = array("h", [1, 2, 3]).tobytes()
    path = tmp_path / "m.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_ext(1, 16000, 16)), chunk(b"data", payload)))
    assert wav.read_pcm16(path) == (array("h", [1, 2, 3]), 16000)


def test_unknown_and_odd_chunks_are_skipped_with_padding() -> None:
    data = riff(chunk(b"fmt ", fmt_pcm()), chunk(b"LIST", b"INFOabc"),
                chunk(b"data", bytes(8)), chunk(b"junk", b"z"))
    assert wav.read_info_bytes(data, "p.wav").frames == 4


def test_streamed_placeholder_sizes_use_bytes_present() -> None:
    data = riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", bytes(21), size=0xFFFFFFFF),
                riff_size=0xFFFFFFFF)
    # 21 bytes present: 10 whole 2-byte frames, the half frame is dropped.
    assert wav.read_info_bytes(data, "s.wav").frames == 10


def test_riff_size_smaller_than_file_ignores_trailing_garbage() -> None:
    good = riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", bytes(4)))
    assert wav.read_info_bytes(good + b"GARBAGE!!!", "g.wav").frames == 2


INVALID = [
    ("empty", b"", "0 bytes, too short"),
    ("short", b"RIFF\x00", "too short"),
    ("not-riff", b"ID3\x03" + bytes(40), "not a RIFF file"),
    ("rifx", b"RIFX" + bytes(40), "RIFX"),
    ("not-wave", b"RIFF\x04\x00\x00\x00AVI " + bytes(8), "not b'WAVE'"),
    ("no-fmt", riff(chunk(b"LIST", b"abcd")), "no fmt chunk"),
    ("no-data", riff(chunk(b"fmt ", fmt_pcm())), "no data chunk"),
    ("data-first", riff(chunk(b"data", bytes(4)), chunk(b"fmt ", fmt_pcm())),
     "data chunk comes before the fmt chunk"),
    ("fmt-short", riff(chunk(b"fmt ", fmt_pcm()[:14]), chunk(b"data", bytes(4))),
     "shorter than 16"),
    ("fmt-truncated", riff(chunk(b"fmt ", fmt_pcm()[:10], size=16)), "fmt chunk truncated"),
    ("header-cut", riff(chunk(b"fmt ", fmt_pcm()), b"dat"), "ends inside a chunk header"),
    ("float", riff(chunk(b"fmt ", fmt_pcm(bits=32, tag=3)), chunk(b"data", bytes(8))),
     r"not PCM: format tag 0x0003 \(IEEE float\)"),
    ("alaw", riff(chunk(b"fmt ", fmt_pcm(bits=8, tag=6)), chunk(b"data", bytes(8))),
     "A-law"),
    ("ext-short", riff(chunk(b"fmt ", fmt_ext()[:30]), chunk(b"data", bytes(6))),
     "EXTENSIBLE fmt chunk is 30 bytes"),
    ("ext-cbsize", riff(chunk(b"fmt ", fmt_ext(cb=0)), chunk(b"data", bytes(6))), "cbSize 0"),
    ("ext-float", riff(chunk(b"fmt ", fmt_ext(guid=FLOAT_GUID)), chunk(b"data", bytes(6))),
     "EXTENSIBLE sub-format 0x0003"),
    ("ext-guid", riff(chunk(b"fmt ", fmt_ext(guid=bytes(16))), chunk(b"data", bytes(6))),
     "EXTENSIBLE sub-format 0000"),
    ("ext-valid-bits", riff(chunk(b"fmt ", fmt_ext(valid=32)), chunk(b"data", bytes(6))),
     "valid bits 32 exceed"),
    ("zero-channels", riff(chunk(b"fmt ", fmt_pcm(channels=0, block=2)),
                           chunk(b"data", bytes(4))), "0 channels"),
    ("zero-rate", riff(chunk(b"fmt ", fmt_pcm(rate=0)), chunk(b"data", bytes(4))),
     "sample rate 0"),
    ("12-bit", riff(chunk(b"fmt ", fmt_pcm(bits=12, block=2)), chunk(b"data", bytes(4))),
     "unsupported 12 bits"),
    ("block-align", riff(chunk(b"fmt ", fmt_pcm(block=4)), chunk(b"data", bytes(4))),
     "block align 4 disagrees"),
    ("byte-rate", riff(chunk(b"fmt ", fmt_pcm(byte_rate=1)), chunk(b"data", bytes(4))),
     "byte rate 1 disagrees"),
    ("truncated-data", riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", b"", size=100)),
     "truncated data: the data chunk declares 100 bytes but only 0"),
    ("partial-frame", riff(chunk(b"fmt ", fmt_pcm(channels=2)), chunk(b"data", bytes(6))),
     "not a whole number of 4-byte frames"),
]


@pytest.mark.parametrize(("case", "data", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_wavs_are_named_and_explained(tmp_path: Path, case: str, data: bytes,
                                              message: str) -> None:
    path = tmp_path / f"{case}.wav"
    path.write_bytes(data)
    with pytest.raises(InvalidWav, match=message) as exc:
        wav.read_info(path)
    assert str(path) in str(exc.value)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(InvalidWav, match=message):
        wav.read_info_bytes(data, f"{case}.wav")
    with pytest.raises(InvalidWav, match=message):
        wav.read_pcm16(path)


def _goertzel_power(x: array[int], rate: int, freq: float) -> float:
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _autocorrelation_f0(x: array[int], rate: int) -> float:
    seg = x[len(x) // 4: len(x) // 4 + 2048]
    best_lag, best = 0, -math.inf
    for lag in range(rate // 500, rate // 50):
        c = sum(seg[i] * seg[i + lag] for i in range(len(seg) - lag)) / (len(seg) - lag)
        if c > best:
            best, best_lag = c, lag
    return rate / best_lag


@pytest.mark.parametrize(("rate", "f0"), [(8000, 100.0), (22050, 120.0), (48000, 210.0)])
def test_speechlike_is_voiced_harmonic_and_modulated(rate: int, f0: float) -> None:
    x = wav.speechlike(0.6, rate, f0_hz=f0, seed=7)
    assert len(x) == round(0.6 * rate)
    assert not wav.is_silent(x)
    assert max(abs(v) for v in x) < 32767  # no clipping
    assert _autocorrelation_f0(x, rate) == pytest.approx(f0, rel=0.05)
    # Harmonics, not a sine: the 2nd and 3rd harmonic carry real energy.
    seg = x[: rate // 4]
    fundamental = _goertzel_power(seg, rate, f0)
    for k in (2, 3):
        assert _goertzel_power(seg, rate, k * f0) > 0.01 * fundamental
    # Amplitude-modulated: RMS over 25 ms windows varies by more than 20%.
    win = rate // 40
    rms = [math.sqrt(sum(v * v for v in x[i:i + win]) / win)
           for i in range(win, len(x) - 2 * win, win)]
    assert max(rms) > 1.2 * min(rms)


def test_speechlike_is_deterministic_per_seed() -> None:
    assert wav.speechlike(0.1, 16000, seed=1) == wav.speechlike(0.1, 16000, seed=1)
    assert wav.speechlike(0.1, 16000, seed=1) != wav.speechlike(0.1, 16000, seed=2)


@pytest.mark.parametrize("kwargs", [
    {"duration_s": -1.0}, {"duration_s": math.nan}, {"sample_rate": 0}, {"f0_hz": 5.0},
    {"f0_hz": 3000.0},
])
def test_speechlike_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"duration_s": 0.1, "sample_rate": 8000, **kwargs}
    f0 = args.pop("f0_hz", 120.0)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        wav.speechlike(args["duration_s"], int(args["sample_rate"]), f0_hz=f0)


def test_silence_and_is_silent() -> None:
    quiet = wav.silence(0.25, 16000)
    assert len(quiet) == 4000 and wav.is_silent(quiet)
    assert wav.is_silent([0, 32, -32])
    assert not wav.is_silent([0, 33])
    assert not wav.is_silent([0, -1000], threshold=999)
    assert wav.is_silent([])


def test_speechlike_is_the_same_with_or_without_audioop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic per seed on every Python: the pure-Python scaling rounds as audioop."""
    with_c = wav.speechlike(0.5, 22050, f0_hz=133.0, seed=3)
    monkeypatch.setattr(wav, "_AUDIOOP", None)
    wav._period_pcm.cache_clear()
    assert wav.speechlike(0.5, 22050, f0_hz=133.0, seed=3) == with_c


def test_speechlike_refuses_a_seed_that_is_not_an_int() -> None:
    with pytest.raises(ValueError, match="seed"):
        wav.speechlike(0.1, 8000, seed="abc")  # type: ignore[arg-type]
