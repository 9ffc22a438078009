"""Synthesize and train timings, as ratios to bare espeak-ng measured in the same run.

Run: ``cd example_plugin && python benchmarks/latency.py [--runs N]``.

Why ratios: absolute times depend on the machine; the cost the plugin adds
on top of espeak-ng (validation, WAV parsing, resampling, F0 analysis) is
what a change to this package can make better or worse.  Each figure is the
median of several runs.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import SENTENCES, record_dataset  # noqa: E402

from vcs_example_espeak import plugin  # noqa: E402

SHORT = "Hello, this is a short sentence."


def timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def bare_espeak(text: str) -> None:
    subprocess.run(["espeak-ng", "-v", "en-us", "--stdin", "--stdout"], input=text.encode(),
                   capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp).resolve()
        for sub in ("datasets", "models", "outputs", "cache"):
            (workspace / sub).mkdir()
        registry = SimpleNamespace(workspace=workspace, temp_dir=workspace / "cache",
                                   settings={}, logger=logging.getLogger("bench"))
        hooks: dict[str, Callable[..., Any]] = plugin.register(registry)
        base = timed(lambda: bare_espeak(SHORT), runs)
        print(f"bare espeak-ng, short sentence      {base * 1000:7.1f} ms  (baseline)")
        for rate in (22050, 16000, 48000):
            t = timed(lambda r=rate: hooks["synthesize"](SHORT, {"sample_rate": r}), runs)
            print(f"synthesize short sentence @{rate:5d}  {t * 1000:7.1f} ms  "
                  f"x{t / base:.2f}")
        dataset = hooks["preprocess"](record_dataset(workspace, "bench", count=10))
        audio_s = sum(item["duration_s"] for item in dataset["items"])
        base10 = timed(lambda: [bare_espeak(s) for s in SENTENCES[:10]], runs)
        print(f"bare espeak-ng, the 10 dataset texts {base10 * 1000:6.1f} ms  (baseline)")
        t = timed(lambda: hooks["train"](dataset, lambda p, s: None), max(3, runs // 2))
        print(f"train, 10 files ({audio_s:.1f} s of audio)   {t * 1000:7.1f} ms  "
              f"x{t / base10:.2f}")


if __name__ == "__main__":
    main()
