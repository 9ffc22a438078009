"""PCM WAV read, write and inspect with the standard library only (SPEC 4, 5).

Why not the ``wave`` module: it rejects ``WAVE_FORMAT_EXTENSIBLE`` (which
many encoders, sox among them, write for perfectly ordinary PCM), and it is
lenient where a conformance kit must not be (it accepts a data chunk that
claims more bytes than the file holds without saying so).  Here the RIFF
chunks are walked by hand, every rejection says which file and what is
wrong, and the rules are written down:

* PCM (format tag 1) and EXTENSIBLE whose sub-format GUID is PCM are
  accepted; anything else (float, A-law, ADPCM...) is :class:`InvalidWav`.
* ``frames`` comes from the data chunk size.  A data chunk that claims more
  than the file holds is how streamed writers (``0xFFFFFFFF`` placeholder)
  leave files: the bytes actually present count, cut to whole frames.  If
  not even one frame is present although some were announced, the file is
  truncated and therefore invalid.
* A data chunk whose declared, fully present size is not a whole number of
  frames is invalid: no correct writer produces one.

This module is also imported by fixture code inside plugin environments,
which do not have the kit's dependencies: keep it standard library only.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import operator
import os
import random
import struct
import sys
import warnings
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO, Final

__all__ = [
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_PCM",
    "InvalidWav",
    "WavInfo",
    "encode_pcm16",
    "is_silent",
    "read_info",
    "read_info_bytes",
    "read_pcm16",
    "silence",
    "speechlike",
    "write_pcm16",
]

WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
#: The tail every KSDATAFORMAT_SUBTYPE_* GUID shares after its 2-byte tag
#: (``0000xxxx-0000-0010-8000-00aa00389b71`` in little-endian byte order).
_GUID_TAIL: Final = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES: Final = {
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MPEG layer 3",
}
#: Sample rates a bare int16 header can describe; anything else is nonsense.
_MAX_RATE: Final = 10_000_000


class InvalidWav(ValueError):
    """A file is not a PCM WAV this kit accepts; the message names file and fault."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: invalid WAV: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says, with ``frames`` taken from the data present."""

    sample_rate: int
    channels: int
    #: Bytes per sample of one channel (2 for 16-bit PCM).
    sample_width: int
    frames: int
    #: The fmt chunk's tag: 1 (PCM) or 0xFFFE (EXTENSIBLE with PCM sub-format).
    format_tag: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def bits_per_sample(self) -> int:
        return self.sample_width * 8


def _format_name(tag: int) -> str:
    return f"0x{tag:04X}" + (f" ({_FORMAT_NAMES[tag]})" if tag in _FORMAT_NAMES else "")


def _parse(f: BinaryIO, size: int, name: str) -> tuple[WavInfo, int, int]:
    """Walk the RIFF chunks; return the info, the data offset and its usable length."""
    if size < 12:
        raise InvalidWav(name, f"file is {size} bytes, too short for a RIFF header (12 bytes)")
    head = f.read(12)
    if head[:4] != b"RIFF":
        kind = "RIFX (big-endian)" if head[:4] == b"RIFX" else repr(head[:4])
        raise InvalidWav(name, f"not a RIFF file (starts with {kind})")
    if head[8:12] != b"WAVE":
        raise InvalidWav(name, f"RIFF form type is {head[8:12]!r}, not b'WAVE'")
    (riff_size,) = struct.unpack("<I", head[4:8])
    # A RIFF size beyond the file is the streamed-writer placeholder; a
    # smaller one means trailing bytes that are not part of the WAV.
    end = size if riff_size + 8 > size or riff_size < 4 else riff_size + 8
    pos = 12
    fmt: bytes | None = None
    data: tuple[int, int, int] | None = None  # offset, bytes present, bytes declared
    cut = ""  # where the file ends inside a chunk, for the messages below
    while pos + 8 <= end:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        body = pos + 8
        present = min(chunk_size, end - body)
        if chunk_id == b"fmt ":
            if present < chunk_size:
                raise InvalidWav(name, f"fmt chunk truncated: declares {chunk_size} bytes, "
                                       f"{present} present")
            fmt = f.read(chunk_size)
        elif chunk_id == b"data":
            if fmt is None:
                raise InvalidWav(name, "data chunk comes before the fmt chunk")
            data = (body, present, chunk_size)
            if present < chunk_size:
                break  # streamed or cut off: nothing can follow the data
        elif present < chunk_size:
            cut = f" (the file ends inside the {chunk_id!r} chunk at byte {pos})"
        pos = body + chunk_size + (chunk_size & 1)
    if 0 < end - pos < 8 and not cut:
        cut = f" (the file ends inside a chunk header at byte {pos})"
    if fmt is None:
        raise InvalidWav(name, "no fmt chunk" + cut)
    if data is None:
        raise InvalidWav(name, "no data chunk" + cut)
    channels, rate, width, tag = _parse_fmt(fmt, name)
    block = channels * width
    offset, present, declared = data
    if present < declared:
        if present < block:
            raise InvalidWav(name, f"truncated data: the data chunk declares {declared} bytes "
                                   f"but only {present} are present")
        present -= present % block
    elif declared % block:
        raise InvalidWav(name, f"data chunk size {declared} is not a whole number of "
                               f"{block}-byte frames")
    info = WavInfo(sample_rate=rate, channels=channels, sample_width=width,
                   frames=present // block, format_tag=tag)
    return info, offset, present


def _parse_fmt(fmt: bytes, name: str) -> tuple[int, int, int, int]:
    """Check the fmt chunk; return channels, rate, bytes per sample and tag."""
    if len(fmt) < 16:
        raise InvalidWav(name, f"fmt chunk is {len(fmt)} bytes, shorter than 16")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            raise InvalidWav(name, f"EXTENSIBLE fmt chunk is {len(fmt)} bytes, shorter than 40")
        (cb_size,) = struct.unpack("<H", fmt[16:18])
        if cb_size < 22:
            raise InvalidWav(name, f"EXTENSIBLE fmt chunk has cbSize {cb_size}, needs 22")
        valid_bits = struct.unpack("<H", fmt[18:20])[0]
        guid = fmt[24:40]
        (sub_tag,) = struct.unpack("<H", guid[:2])
        if guid[2:] != _GUID_TAIL or sub_tag != WAVE_FORMAT_PCM:
            what = _format_name(sub_tag) if guid[2:] == _GUID_TAIL else guid.hex()
            raise InvalidWav(name, f"not PCM: EXTENSIBLE sub-format {what}")
        if valid_bits > bits:
            raise InvalidWav(name, f"EXTENSIBLE valid bits {valid_bits} exceed the "
                                   f"{bits}-bit container")
    elif tag != WAVE_FORMAT_PCM:
        raise InvalidWav(name, f"not PCM: format tag {_format_name(tag)}")
    if channels == 0:
        raise InvalidWav(name, "fmt chunk says 0 channels")
    if not 0 < rate <= _MAX_RATE:
        raise InvalidWav(name, f"fmt chunk says sample rate {rate}")
    if bits == 0 or bits % 8 or bits > 64:
        raise InvalidWav(name, f"unsupported {bits} bits per sample (PCM needs 8, 16, 24, 32)")
    width = bits // 8
    if block_align != channels * width:
        raise InvalidWav(name, f"block align {block_align} disagrees with {channels} channel(s) "
                               f"of {bits} bits")
    if byte_rate != rate * block_align:
        raise InvalidWav(name, f"byte rate {byte_rate} disagrees with {rate} Hz x "
                               f"{block_align}-byte frames")
    return channels, rate, width, tag


def read_info(path: str | os.PathLike[str]) -> WavInfo:
    """Header facts of the WAV at ``path``; reads only chunk headers and fmt."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return _parse(f, size, name)[0]


def read_info_bytes(data: bytes, name: str = "<bytes>") -> WavInfo:
    """Like :func:`read_info` for a WAV already in memory; ``name`` is for messages."""
    return _parse(io.BytesIO(data), len(data), name)[0]


def read_pcm16(path: str | os.PathLike[str]) -> tuple[array[int], int]:
    """Samples and rate of a mono 16-bit PCM WAV (what datasets hold)."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        info, offset, length = _parse(f, size, name)
        if info.channels != 1 or info.sample_width != 2:
            raise InvalidWav(name, f"expected mono 16-bit PCM, found {info.channels} channel(s) "
                                   f"of {info.bits_per_sample} bits")
        f.seek(offset)
        raw = f.read(length)
    samples = array("h")
    samples.frombytes(raw)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, info.sample_rate


def _check_rate(sample_rate: int) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) \
            or not 0 < sample_rate <= _MAX_RATE:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")


def encode_pcm16(samples: Iterable[int], sample_rate: int) -> bytes:
    """A complete canonical 44-byte-header mono 16-bit PCM WAV, as bytes."""
    _check_rate(sample_rate)
    try:
        pcm = samples if isinstance(samples, array) and samples.typecode == "h" \
            else array("h", samples)
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"samples must be ints in [-32768, 32767]: {exc}") from None
    if sys.byteorder == "big":
        pcm = array("h", pcm)
        pcm.byteswap()
    payload = pcm.tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE",
                         b"fmt ", 16, WAVE_FORMAT_PCM, 1, sample_rate, sample_rate * 2, 2, 16,
                         b"data", len(payload))
    return header + payload


def write_pcm16(path: str | os.PathLike[str], samples: Iterable[int], sample_rate: int) -> None:
    """Write ``samples`` as a mono 16-bit PCM WAV (canonical 44-byte header)."""
    data = encode_pcm16(samples, sample_rate)
    with open(path, "wb") as f:
        f.write(data)


def _frames(duration_s: float, sample_rate: int) -> int:
    _check_rate(sample_rate)
    if not (isinstance(duration_s, int | float) and math.isfinite(duration_s)
            and duration_s >= 0):
        raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s!r}")
    return round(duration_s * sample_rate)


def silence(duration_s: float, sample_rate: int) -> array[int]:
    """``duration_s`` of digital silence at ``sample_rate``."""
    return array("h", bytes(2 * _frames(duration_s, sample_rate)))


def is_silent(samples: Iterable[int], threshold: int = 32) -> bool:
    """True when no sample's magnitude exceeds ``threshold`` (32 is about -60 dBFS).

    Why a peak test and not RMS: SPEC 5 asks that speech output be "not all
    silence"; a single audible burst is not silence, while dither noise of a
    few LSB is.
    """
    return all(-threshold <= s <= threshold for s in samples)


# Formant centres and bandwidths (Hz) of an /a/-like vowel: harmonics near
# them are emphasised so the spectrum looks like voiced speech, not a buzz.
_FORMANTS: Final = ((700.0, 130.0), (1220.0, 70.0), (2600.0, 160.0))
#: Points of the one-period wavetable (linear interpolation between them: even the
#: 40th harmonic has over 6 points per cycle, an error far below one LSB of it).
_TABLE_SIZE: Final = 256
#: The timbre (formant gains) is computed for F0 rounded to this step, and the
#: harmonics' phases come from one of this many sets: nobody hears 2 Hz of
#: formant shift, and it lets utterances share wavetables (see speechlike).
_TIMBRE_STEP_HZ: Final = 4.0
_PHASE_SETS: Final = 8
_BAND_HZ: Final = 3400.0


def _sample_ops() -> ModuleType | None:
    """``audioop`` (standard library to 3.12, ``audioop-lts`` after), or None.

    Used for one thing: scaling a period of int16 samples by the envelope
    in C.  Without it the same scaling runs sample by sample in Python.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


_AUDIOOP: Final = _sample_ops()


@functools.cache
def _unit_harmonic(k: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """sin and cos of harmonic ``k`` over one wavetable period (computed once)."""
    step = 2 * math.pi * k / _TABLE_SIZE
    return (tuple(math.sin(step * i) for i in range(_TABLE_SIZE)),
            tuple(math.cos(step * i) for i in range(_TABLE_SIZE)))


@functools.lru_cache(maxsize=512)
def _period_table(harmonics: int, timbre_f0: float, phase_set: int) -> tuple[float, ...]:
    """One pitch period: band-limited harmonics, 1/k roll-off shaped by the formants."""
    rng = random.Random(phase_set)
    table = [0.0] * _TABLE_SIZE
    for k in range(1, harmonics + 1):
        freq = k * timbre_f0
        gain = 1.0 / k
        for centre, width in _FORMANTS:
            gain += 3.0 / k / (1.0 + ((freq - centre) / width) ** 2)
        phase = rng.uniform(0, 2 * math.pi)
        # gain * sin(x + phase) = (gain cos phase) sin x + (gain sin phase) cos x
        a, b = gain * math.cos(phase), gain * math.sin(phase)
        sines, cosines = _unit_harmonic(k)
        table = [v + a * sv + b * cv for v, sv, cv in zip(table, sines, cosines, strict=True)]
    scale = 0.6 * 32767 / (max(map(abs, table)) or 1.0)
    table = [v * scale for v in table]
    table.append(table[0])
    return tuple(table)


@functools.lru_cache(maxsize=4096)
def _period_pcm(harmonics: int, timbre_f0: float, phase_set: int, length: int) -> bytes:
    """That period resampled to ``length`` samples, as native int16 bytes."""
    table = _period_table(harmonics, timbre_f0, phase_set)
    ratio = _TABLE_SIZE / length
    out = array("h")
    for i in range(length):
        x = i * ratio
        j = int(x)
        out.append(int(table[j] + (table[j + 1] - table[j]) * (x - j)))
    return out.tobytes()


def _scaled(pcm: bytes, factor: float) -> bytes:
    if _AUDIOOP is not None:
        return bytes(_AUDIOOP.mul(pcm, 2, factor))
    samples = array("h")
    samples.frombytes(pcm)
    # floor, as audioop.mul rounds: the same samples with or without it
    return array("h", map(math.floor, map(operator.mul, samples,
                                          itertools.repeat(factor, len(samples))))).tobytes()


def speechlike(duration_s: float, sample_rate: int, *, f0_hz: float = 120.0,
               seed: int = 0) -> array[int]:
    """A voiced, harmonic, amplitude-modulated signal with F0 ``f0_hz``.

    Why not a sine: plugins under test may run an F0 tracker, a VAD or a
    spectral front end on dataset audio, and a pure tone is degenerate for
    all of them.  This is a band-limited harmonic series (glottal-like
    1/k roll-off shaped by three vowel formants), with slow vibrato around
    ``f0_hz`` and a syllable-rate (~4 Hz) envelope that never fully closes,
    so autocorrelation pitch estimators find ``f0_hz``.  The result is
    deterministic for a given ``seed``.

    Why period by period, from caches: every dataset the checks write is
    rendered here (a catalogue run writes a few hundred utterances), and a
    per-sample Python loop made it the largest cost of a run.  One period
    is computed into a wavetable (shared by utterances of similar timbre),
    resampled once per distinct period length (vibrato of 1% gives a
    handful; shared too), and the output is those periods laid end to end,
    each scaled in C by the envelope at its start.  Period lengths are
    whole samples; their fractional parts carry over, so the mean pitch is
    exact.
    """
    n = _frames(duration_s, sample_rate)
    if not (isinstance(f0_hz, int | float) and math.isfinite(f0_hz)
            and 20.0 <= f0_hz < sample_rate / 4):
        raise ValueError(f"f0_hz must be in [20, sample_rate/4), got {f0_hz!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    # Harmonics up to the telephone band (3.4 kHz, where speech has its formants)
    # and below Nyquist, at most 40.
    harmonics = max(1, min(40, int(min(0.45 * sample_rate, _BAND_HZ) / (f0_hz * 1.05))))
    timbre = (harmonics, max(20.0, round(f0_hz / _TIMBRE_STEP_HZ) * _TIMBRE_STEP_HZ),
              seed % _PHASE_SETS)
    rng = random.Random(seed)
    vib_rate, vib_phase = rng.uniform(4.5, 6.0), rng.uniform(0, 2 * math.pi)
    syl_rate, syl_phase = rng.uniform(3.0, 5.0), rng.uniform(0, 2 * math.pi)
    two_pi = 2 * math.pi
    chunks: list[bytes] = []
    done, exact = 0, 0.0
    while done < n:
        t = done / sample_rate
        exact += sample_rate / (f0_hz * (1.0 + 0.01 * math.sin(two_pi * vib_rate * t
                                                                + vib_phase)))
        length = max(2, round(exact) - done)
        env = 0.65 + 0.35 * math.sin(two_pi * syl_rate * t + syl_phase)
        chunks.append(_scaled(_period_pcm(*timbre, length), env))
        done += length
    out = array("h")
    out.frombytes(b"".join(chunks))
    del out[n:]
    fade = min(n, max(1, int(0.01 * sample_rate)))
    # 10 ms ramps: no click at either end.
    out[:fade] = array("h", [int(v * i / fade) for i, v in enumerate(out[:fade])])
    tail = out[n - fade:]
    out[n - fade:] = array("h", [int(v * (fade - 1 - i) / fade) for i, v in enumerate(tail)])
    return out
