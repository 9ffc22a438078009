"""Helpers shared by the test modules: WAV bytes, tones, espeak-ng recordings, progress."""

from __future__ import annotations

import math
import struct
import subprocess
from pathlib import Path

SENTENCES = (
    "Printing, in the only sense with which we are at present concerned, differs from most arts.",
    "The quick brown fox jumps over the lazy dog while seven wizards quietly judge the match.",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "A large fawn jumped quickly over white zinc boxes near the old harbour.",
    "We promptly judged antique ivory buckles for the next prize.",
    "Sphinx of black quartz, judge my vow, said the tired librarian.",
    "Five quacking zephyrs jolt my wax bed every single morning.",
    "The early train left the station ten minutes before the storm arrived.",
    "Bright vixens jump, dozy fowl quack, and the farmer laughs at them all.",
)


class Progress:
    """Records ``progress_cb`` calls and checks each against SPEC 5 as it arrives."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    def __call__(self, percent: float, status: str) -> None:
        assert isinstance(percent, int | float) and 0 <= percent <= 100, percent
        assert isinstance(status, str) and 1 <= len(status) <= 200, status
        if self.events:
            assert percent >= self.events[-1][0], (self.events[-1], percent)
        self.events.append((percent, status))


def wav_bytes(samples: list[int], rate: int, *, channels: int = 1, bits: int = 16,
              tag: int = 1) -> bytes:
    """A WAV file as bytes; ``samples`` are interleaved integers for ``bits``."""
    width = bits // 8
    if bits == 8:
        payload = bytes(s + 128 for s in samples)
    else:
        payload = b"".join(s.to_bytes(width, "little", signed=True) for s in samples)
    block = channels * width
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> list[int]:
    """A sine wave as 16-bit integers."""
    return [round(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate))
            for i in range(round(seconds * rate))]


def espeak_wav(path: Path, text: str, *, pitch: int = 50, speed: int = 175,
               voice: str = "en-us") -> None:
    """Record ``text`` with espeak-ng directly (not through the plugin)."""
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdin",
                    "-w", str(path)], input=text.encode(), check=True, capture_output=True)


def record_dataset(workspace: Path, name: str, *, pitch: int = 50, speed: int = 175,
                   count: int = 3, rows: list[str] | None = None) -> str:
    """An LJSpeech dataset spoken by espeak-ng; returns its workspace-relative dir."""
    root = workspace / "datasets" / name
    (root / "wavs").mkdir(parents=True)
    lines = []
    for index, text in enumerate(SENTENCES[:count]):
        item_id = f"{name}_{index:03d}"
        espeak_wav(root / "wavs" / f"{item_id}.wav", text, pitch=pitch, speed=speed)
        lines.append(f"{item_id}|{text}")
    (root / "metadata.csv").write_text("\n".join(rows if rows is not None else lines) + "\n",
                                       encoding="utf-8")
    return f"datasets/{name}"
