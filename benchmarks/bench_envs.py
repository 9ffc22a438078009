"""Isolated envs: cache-hit time, and a cold env against uv by hand and Poetry.

Run: ``python benchmarks/bench_envs.py [--runs R]``.

The plugin is ``tests/fixtures/envs/locked-plugin`` (a small plugin with two
locked, hash-pinned dependencies, six and idna).  Everything runs in one
process, in one run, on a warm package cache (one warm-up of each side
first), medians of R runs, order alternating:

* **cache hit**: ``IsolatedEnvProvider(...)(project)`` on a cache that holds
  the env (hash the source tree, read the lock, verify every recorded file
  hash).  Issue 5's target: at most 100 ms.
* **cold env**: a fresh cache that already holds the built wheel (the kit
  builds a project's wheel once and reuses it) vs the same by hand:
  ``uv venv`` + ``uv pip install --no-deps --require-hashes`` of the wheel
  and the two pins.  Target: at most 1.2x the hand-made baseline.
* **poetry install --only main** of the same project into a fresh in-project
  venv, when Poetry can reach its index here (else the reason is printed).
  Target: the kit at least 5x faster.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcs_conformance.envs import IsolatedEnvProvider  # noqa: E402
from vcs_conformance.envs._install import find_tools  # noqa: E402

PROJECT = ROOT / "tests" / "fixtures" / "envs" / "locked-plugin"
PINS = (
    "idna==3.7 --hash=sha256:82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0",
    "six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    uv = find_tools("uv").uv
    assert uv is not None
    env = {**os.environ, "UV_LINK_MODE": "copy"}
    env.pop("VIRTUAL_ENV", None)
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as raw:
        tmp = Path(raw)
        warm = tmp / "warm"
        first = IsolatedEnvProvider(cache_dir=warm)(PROJECT)  # builds the wheel and the env
        wheel = Path(first.info["wheel"])
        python = first.info["python"]

        def hit() -> None:
            IsolatedEnvProvider(cache_dir=warm)(PROJECT)

        counter = iter(range(10_000))

        def kit_cold() -> None:
            cache = tmp / f"kit-{next(counter)}"
            shutil.copytree(warm / "wheels", cache / "wheels",
                            ignore=shutil.ignore_patterns("*.lock"))
            result = IsolatedEnvProvider(cache_dir=cache)(PROJECT)
            assert result.info["cache_hit"] is False

        def by_hand() -> None:
            venv = tmp / f"hand-{next(counter)}"
            req = tmp / f"req-{venv.name}.txt"
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            req.write_text(f"vcs-fixture-envs @ {wheel.as_uri()} --hash=sha256:{digest}\n"
                           + "\n".join(PINS) + "\n")
            subprocess.run([uv, "venv", "--quiet", "--python", python, str(venv)],
                           check=True, env=env)
            subprocess.run([uv, "pip", "install", "--quiet", "--python",
                            str(venv / "bin" / "python"), "--no-deps", "--require-hashes",
                            "-r", str(req)], check=True, env=env)

        hits = [timed(hit) for _ in range(args.runs)]
        kit_cold()
        by_hand()  # warm-up of both sides
        kit: list[float] = []
        hand: list[float] = []
        for run in range(args.runs):
            pair = [(kit, kit_cold), (hand, by_hand)]
            for samples, fn in pair if run % 2 == 0 else reversed(pair):
                samples.append(timed(fn))

        print(f"isolated envs, {args.runs} runs each (medians), plugin: {PROJECT.name} "
              "(two locked deps)")
        print(f"  cache hit, env ready:           {median_ms(hits):8.1f} ms"
              f"   (target <= 100 ms: {'ok' if median_ms(hits) <= 100 else 'MISSED'})")
        ratio = median_ms(kit) / median_ms(hand)
        print(f"  cold env, kit:                  {median_ms(kit):8.1f} ms")
        print(f"  cold env, uv venv + uv pip:     {median_ms(hand):8.1f} ms")
        print(f"  ratio kit / by hand:            {ratio:8.2f} x"
              f"   (target <= 1.2x: {'ok' if ratio <= 1.2 else 'MISSED'})")
        poetry_line(tmp, kit, args.runs)
    return 0


def poetry_line(tmp: Path, kit: list[float], runs: int) -> None:
    beside = Path(sys.executable).parent / "poetry"  # the test extras install it there
    poetry = str(beside) if beside.is_file() else shutil.which("poetry")
    if poetry is None:
        print("  poetry install: not measured (poetry is not installed)")
        return
    samples: list[float] = []
    for run in range(min(runs, 3)):
        project = tmp / f"poetry-{run}"
        shutil.copytree(PROJECT, project)
        env = {**os.environ, "POETRY_VIRTUALENVS_IN_PROJECT": "true",
               "POETRY_CACHE_DIR": str(tmp / "poetry-cache"), "POETRY_NO_INTERACTION": "1"}
        env.pop("VIRTUAL_ENV", None)
        started = time.perf_counter()
        proc = subprocess.run([poetry, "install", "--only", "main"], cwd=project, env=env,
                              capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            reason = next((line.strip(" |") for line in proc.stdout.splitlines()
                           if "Unable to find" in line or "not found" in line),
                          (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"])
            print(f"  poetry install --only main: not measured: it fails here ({reason})")
            return
        samples.append(elapsed)
    ratio = median_ms(samples) / median_ms(kit)
    print(f"  poetry install --only main:     {median_ms(samples):8.1f} ms")
    print(f"  poetry / kit:                   {ratio:8.2f} x"
          f"   (target >= 5x: {'ok' if ratio >= 5 else 'MISSED'})")


if __name__ == "__main__":
    sys.exit(main())
