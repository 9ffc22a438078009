"""WAV I/O, resampling and the two measurements training needs, standard library only.

Why no numpy or soundfile: a plugin's dependencies are installed into an
isolated environment from its ``poetry.lock``; every dependency is one more
thing to lock, download and trust.  Speech analysis at the level this engine
needs (median F0, speaking rate) is cheap enough in pure Python when it is
done on decimated audio, so the plugin ships with no third-party packages.

Why a hand-written RIFF reader instead of :mod:`wave`: ``wave`` rejects
``WAVE_FORMAT_EXTENSIBLE`` headers, which sox and many recorders write for
ordinary PCM, and it silently believes a data chunk that claims more bytes
than the file holds.  Datasets come from users, so the reader accepts what is
legitimately PCM and names the file and the fault for everything else.

Sample values are floats in [-1.0, 1.0) throughout, whatever the file's bit
depth, so the DSP code never cares where the audio came from.
"""

from __future__ import annotations

import io
import math
import os
import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from statistics import median
from typing import BinaryIO, Final

__all__ = [
    "F0_MAX_HZ",
    "F0_MIN_HZ",
    "WavError",
    "WavInfo",
    "active_duration_s",
    "f0_track",
    "median_f0",
    "pcm16_from_bytes",
    "read_info",
    "read_mono",
    "resample",
    "write_pcm16",
]

_PCM: Final = 0x0001
_EXTENSIBLE: Final = 0xFFFE
#: Bytes 2..15 of every KSDATAFORMAT_SUBTYPE GUID; bytes 0..1 hold the format tag.
_GUID_TAIL: Final = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

#: Pitch search range.  60-400 Hz covers adult and child speech and keeps the
#: longest lag well inside a 40 ms frame (two and a half periods at 60 Hz).
F0_MIN_HZ: Final = 60.0
F0_MAX_HZ: Final = 400.0
#: Analysis rate after decimation: the F0 range only needs ~1 kHz of band,
#: and every halving of the rate quarters the autocorrelation cost.
_ANALYSIS_RATE: Final = 6000
_FRAME_S: Final = 0.040
#: A frame is voiced when its normalised autocorrelation peak reaches this.
_VOICING: Final = 0.6
#: ~-54 dBFS: below this RMS a frame is treated as silence whatever the level.
_SILENCE_RMS: Final = 0.002
#: Half the length of the anti-alias FIR used when downsampling, and its phases.
_HALF_TAPS: Final = 8
_PHASES: Final = 64


class WavError(ValueError):
    """A file is not a PCM WAV the plugin can use; the message names file and fault.

    A ``ValueError`` because a bad WAV in a dataset is invalid input (SPEC 5).
    """

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")


@dataclass(frozen=True)
class WavInfo:
    """What the header says; ``frames`` counts only the whole frames present."""

    sample_rate: int
    channels: int
    sample_width: int
    frames: int
    data_offset: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _parse(f: BinaryIO, size: int, name: str) -> WavInfo:
    """Walk the RIFF chunks to ``fmt `` and ``data``.

    The rules are the conformance kit's, so that a file the kit calls valid
    is read here to the same frame count: a data chunk claiming more bytes
    than the file holds (streaming writers, ``espeak-ng --stdout``) counts
    the whole frames present; a complete data chunk that is not a whole
    number of frames is corrupt.
    """
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError(name, "not a RIFF/WAVE file")
    (riff_size,) = struct.unpack("<I", head[4:8])
    end = size if riff_size + 8 > size or riff_size < 4 else riff_size + 8
    pos = 12
    fmt: bytes | None = None
    while pos + 8 <= end:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        body = pos + 8
        present = min(chunk_size, end - body)
        if chunk_id == b"fmt ":
            fmt = f.read(chunk_size)
            if len(fmt) < chunk_size or len(fmt) < 16:
                raise WavError(name, "fmt chunk is truncated")
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError(name, "data chunk before the fmt chunk")
            channels, rate, width = _parse_fmt(fmt, name)
            block = channels * width
            if present < chunk_size:
                if present < block:
                    raise WavError(name, f"truncated: the data chunk declares {chunk_size} "
                                         f"bytes but {present} are present")
            elif chunk_size % block:
                raise WavError(name, f"data chunk of {chunk_size} bytes is not a whole number "
                                     f"of {block}-byte frames")
            return WavInfo(rate, channels, width, present // block, body)
        pos = body + chunk_size + (chunk_size & 1)
    raise WavError(name, "no fmt chunk" if fmt is None else "no data chunk")


def _parse_fmt(fmt: bytes, name: str) -> tuple[int, int, int]:
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 40 and fmt[26:40] == _GUID_TAIL:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag != _PCM:
        raise WavError(name, f"not PCM (format tag 0x{tag:04X}); convert it to PCM WAV")
    if channels == 0 or rate == 0:
        raise WavError(name, f"header says {channels} channel(s) at {rate} Hz")
    if bits not in (8, 16, 24, 32) or block_align != channels * bits // 8:
        raise WavError(name, f"unsupported sample format ({bits} bits, block align "
                             f"{block_align})")
    if byte_rate != rate * block_align:
        raise WavError(name, f"corrupt header: byte rate {byte_rate} is not {rate} Hz x "
                             f"{block_align}-byte frames")
    return channels, rate, bits // 8


def read_info(path: str | os.PathLike[str], name: str) -> WavInfo:
    """Header facts of a PCM WAV; ``name`` is how messages refer to the file."""
    try:
        with open(path, "rb") as f:
            return _parse(f, os.fstat(f.fileno()).st_size, name)
    except struct.error:
        raise WavError(name, "a chunk header is cut off") from None
    except OSError as exc:
        raise WavError(name, f"cannot read: {exc.strerror or exc}") from None


def _to_float(raw: bytes, width: int, channels: int) -> array[float]:
    values: Sequence[int]
    if width == 1:  # 8-bit WAV is unsigned
        values = [b - 128 for b in raw]
    elif width == 3:
        values = [int.from_bytes(raw[i:i + 3], "little", signed=True)
                  for i in range(0, len(raw) - 2, 3)]
    else:
        pcm = array("h" if width == 2 else "i", raw[:len(raw) - len(raw) % width])
        if sys.byteorder == "big":
            pcm.byteswap()
        values = pcm
    scale = 1.0 / (1 << (8 * width - 1))
    if channels == 1:
        return array("d", [v * scale for v in values])
    scale /= channels
    return array("d", [sum(values[i:i + channels]) * scale
                       for i in range(0, len(values) - channels + 1, channels)])


def read_mono(path: str | os.PathLike[str], name: str) -> tuple[array[float], int]:
    """Samples in [-1, 1) (channels averaged) and the sample rate of a PCM WAV.

    An ``array('d')`` rather than a list: 8 bytes a sample instead of ~32.
    """
    info = read_info(path, name)
    try:
        with open(path, "rb") as f:
            f.seek(info.data_offset)
            raw = f.read(info.frames * info.channels * info.sample_width)
    except OSError as exc:
        raise WavError(name, f"cannot read: {exc.strerror or exc}") from None
    return _to_float(raw, info.sample_width, info.channels), info.sample_rate


def pcm16_from_bytes(data: bytes, name: str) -> tuple[array[int], int]:
    """Samples and rate of an in-memory mono 16-bit WAV (what espeak-ng writes)."""
    try:
        info = _parse(io.BytesIO(data), len(data), name)
    except struct.error:
        raise WavError(name, "a chunk header is cut off") from None
    if info.channels != 1 or info.sample_width != 2:
        raise WavError(name, f"expected mono 16-bit PCM, got {info.channels} channel(s) of "
                             f"{8 * info.sample_width} bits")
    start = info.data_offset
    pcm = array("h", data[start:start + 2 * info.frames])
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm, info.sample_rate


def write_pcm16(path: str | os.PathLike[str], pcm: array[int], sample_rate: int) -> None:
    """Write mono 16-bit PCM with a canonical 44-byte header."""
    if sys.byteorder == "big":
        pcm = array("h", pcm)
        pcm.byteswap()
    payload = pcm.tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE", b"fmt ",
                         16, _PCM, 1, sample_rate, sample_rate * 2, 2, 16,
                         b"data", len(payload))
    with open(path, "wb") as f:
        f.write(header)
        f.write(payload)


def _polyphase_table(cutoff: float) -> list[list[float]]:
    """Windowed-sinc low-pass taps for every fractional offset 0, 1/P, ... 1.

    Row ``p`` holds the weights of input samples ``j-H+1 .. j+H`` for an
    output that falls ``p/P`` of the way from sample ``j`` to ``j+1``; each
    row is normalised to unity DC gain so silence stays silence and level
    is kept.
    """
    table = []
    for phase in range(_PHASES + 1):
        frac = phase / _PHASES
        row = []
        for k in range(-_HALF_TAPS + 1, _HALF_TAPS + 1):
            t = k - frac
            ideal = 2 * cutoff if t == 0 else math.sin(2 * math.pi * cutoff * t) / (math.pi * t)
            row.append(ideal * 0.5 * (1 + math.cos(math.pi * t / _HALF_TAPS)))
        total = sum(row)
        table.append([w / total for w in row])
    return table


def _clip16(value: float) -> int:
    return -32768 if value < -32768 else 32767 if value > 32767 else round(value)


def resample(pcm: array[int], src_rate: int, dst_rate: int) -> array[int]:
    """Resample 16-bit PCM; the output has exactly ``round(n * dst / src)`` samples.

    Keeping the length exact keeps the duration to within half a sample,
    far inside the 10 ms the Result's ``duration_s`` promises.

    Going down in rate, each output sample is a 16-tap windowed-sinc
    low-pass evaluated at its exact fractional position (a polyphase table
    of 64 phases): removing what would fold back into the narrower band and
    interpolating are one dot product.  Going up, nothing can alias, and
    linear interpolation is enough for speech that espeak-ng band-limits
    to well under its own Nyquist frequency.
    """
    if src_rate == dst_rate or not pcm:
        return array("h", pcm)
    n_out = round(len(pcm) * dst_rate / src_rate)
    step = src_rate / dst_rate
    out = array("h", bytes(2 * n_out))
    if dst_rate < src_rate:
        table = _polyphase_table(0.45 * dst_rate / src_rate)
        width = 2 * _HALF_TAPS
        pad = array("h", bytes(2 * (_HALF_TAPS + 1)))
        padded = pad + pcm + pad
        for i in range(n_out):
            pos = i * step
            j = int(pos)
            phase = round((pos - j) * _PHASES)
            # padded[j + 2] is pcm[j - H + 1] with H + 1 samples of padding.
            start = j + 2
            out[i] = _clip16(sum(map(mul, table[phase], padded[start:start + width])))
        return out
    last = len(pcm) - 1
    for i in range(n_out):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = pcm[last]
        else:
            a = pcm[j]
            out[i] = _clip16(a + (pcm[j + 1] - a) * (pos - j))
    return out


def _decimate(x: Sequence[float], rate: int) -> tuple[list[float], float]:
    """Box-average and keep every n-th sample: a crude but sufficient anti-alias for F0."""
    factor = max(1, round(rate / _ANALYSIS_RATE))
    if factor == 1:
        return list(x), float(rate)
    inv = 1.0 / factor
    return ([sum(x[i:i + factor]) * inv for i in range(0, len(x) - factor + 1, factor)],
            rate / factor)


def _frame_rms(frame: Sequence[float]) -> float:
    return math.sqrt(sum(map(mul, frame, frame)) / len(frame)) if frame else 0.0


def _frame_f0(frame: list[float], rate: float, min_lag: int, max_lag: int) -> float | None:
    """F0 of one frame by normalised autocorrelation, or None when unvoiced.

    The normalisation divides each lag's product sum by the energies of the
    two overlapping parts, so values are in [-1, 1] whatever the level and
    however short the overlap.  Autocorrelation peaks at every multiple of the
    period about equally, so the shortest lag whose peak comes close to the
    best one wins: that avoids the classic octave-too-low error.
    """
    mean = sum(frame) / len(frame)
    f = [v - mean for v in frame]
    n = len(f)
    squares = list(map(mul, f, f))
    prefix = [0.0]
    for s in squares:
        prefix.append(prefix[-1] + s)
    total = prefix[-1]
    scores: list[float] = []
    for lag in range(min_lag - 1, max_lag + 2):
        e_head = prefix[n - lag]
        e_tail = total - prefix[lag]
        denom = math.sqrt(e_head * e_tail)
        r = sum(map(mul, f[:n - lag], f[lag:])) / denom if denom > 0 else 0.0
        scores.append(r)
    best = max(scores[1:-1], default=0.0)
    if best < _VOICING:
        return None
    for i in range(1, len(scores) - 1):
        if scores[i] >= 0.9 * best and scores[i] >= scores[i - 1] and scores[i] >= scores[i + 1]:
            # Parabolic interpolation of the peak for sub-sample lag precision.
            a, b, c = scores[i - 1], scores[i], scores[i + 1]
            curve = a - 2 * b + c
            shift = 0.5 * (a - c) / curve if curve < 0 else 0.0
            return rate / (min_lag - 1 + i + shift)
    return None


def f0_track(samples: Sequence[float], sample_rate: int) -> list[float]:
    """F0 (Hz) of every voiced 40 ms frame, in order.

    Frames quieter than a tenth of the loud frames' level (or than about
    -54 dBFS) are skipped before any autocorrelation is computed: pauses and
    breath cannot be voiced, and skipping them is most of the speed-up.
    """
    x, rate = _decimate(samples, sample_rate)
    size = round(_FRAME_S * rate)
    min_lag = max(2, math.floor(rate / F0_MAX_HZ))
    max_lag = min(size - 2, math.ceil(rate / F0_MIN_HZ))
    frames = [x[i:i + size] for i in range(0, len(x) - size + 1, size)]
    if not frames or max_lag <= min_lag:
        return []
    levels = [_frame_rms(fr) for fr in frames]
    loud = sorted(levels)[int(0.9 * (len(levels) - 1))]
    gate = max(_SILENCE_RMS, 0.1 * loud)
    track = []
    for frame, level in zip(frames, levels, strict=True):
        if level >= gate:
            f0 = _frame_f0(frame, rate, min_lag, max_lag)
            if f0 is not None and F0_MIN_HZ <= f0 <= F0_MAX_HZ:
                track.append(f0)
    return track


def median_f0(samples: Sequence[float], sample_rate: int) -> float | None:
    """Median F0 over voiced frames; None when nothing in the audio is voiced."""
    track = f0_track(samples, sample_rate)
    return median(track) if track else None


def active_duration_s(samples: Sequence[float], sample_rate: int) -> float:
    """Seconds from the first to the last non-silent 20 ms frame.

    Speaking rate is words per second of *speech*: leading and trailing
    silence says nothing about the speaker and varies between recordings.
    """
    size = max(1, round(0.020 * sample_rate))
    levels = [_frame_rms(samples[i:i + size]) for i in range(0, len(samples), size)]
    if not levels:
        return 0.0
    gate = max(_SILENCE_RMS, 0.05 * max(levels))
    active = [i for i, level in enumerate(levels) if level >= gate]
    if not active:
        return 0.0
    return min(len(samples), (active[-1] + 1) * size) / sample_rate - active[0] * size / sample_rate
