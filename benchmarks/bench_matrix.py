"""Warm matrix wall time against its slowest single cell (issue 8's performance target).

Target: with the env caches filled, the whole matrix takes at most 2x the time
of its slowest cell (cells run side by side; no env is rebuilt).  Both sides
are measured here, in the same run, on the same machine:

1. a warm-up run of the whole matrix fills the env caches and gives each
   cell's time; the slowest cell is picked from it;
2. that cell alone, ``--runs`` times (median);
3. the whole matrix, ``--runs`` times (median), with ``--jobs`` cells at once;
4. with ``--serial``, the whole matrix one cell at a time, for the speed-up;
5. with ``--nox``, ``nox -s conformance`` (what a developer types: a session
   per cell, each asserting its expected outcome), warm, after one run that
   creates the session venvs.

Run from the repository root::

    python benchmarks/bench_matrix.py [--list tests/fixtures/matrix/conformance.toml]
        [--runs 3] [--jobs N] [--serial] [--pytest-arg=--vcs-sandbox=basic]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

from vcs_conformance._matrix import Matrix, default_jobs, run_matrix
from vcs_conformance._matrix_list import MatrixList, load_list


def _timed_run(mlist: MatrixList, out: Path, **kwargs: Any) -> tuple[float, Matrix]:
    started = time.perf_counter()
    matrix = run_matrix(mlist, out, **kwargs)
    return time.perf_counter() - started, matrix


def _nox() -> float:
    """Wall seconds of ``nox -s conformance`` from the repository root (it must pass)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nox", "-s", "conformance"], cwd=root,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"nox -s conformance failed:\n{proc.stderr[-3000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", default="tests/fixtures/matrix/conformance.toml")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--serial", action="store_true")
    parser.add_argument("--pytest-arg", action="append", default=[])
    parser.add_argument("--nox", action="store_true",
                        help="also time `nox -s conformance` (the kit's list only)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in CI logs
    mlist = load_list(args.list)
    jobs = args.jobs or default_jobs()
    extra = tuple(args.pytest_arg)
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        root = Path(tmp)
        warm_wall, warm = _timed_run(mlist, root / "warmup", jobs=jobs, pytest_args=extra)
        statuses = [r.status for r in warm.results.values()]
        print(f"warm-up: {len(statuses)} cells in {warm_wall:.1f} s "
              f"({', '.join(f'{statuses.count(s)} {s}' for s in dict.fromkeys(statuses))})")
        slowest = max(warm.results.values(), key=lambda r: r.seconds)
        print(f"slowest cell in the warm-up: {slowest.cell.key} ({slowest.seconds:.1f} s)")
        singles: list[float] = []
        fulls: list[float] = []
        serials: list[float] = []
        noxes: list[float] = []
        if args.nox:
            _nox()  # creates the session venvs and installs the kit: not what is timed
        for i in range(args.runs):
            wall, _ = _timed_run(mlist, root / f"single-{i}", cells=[slowest.cell], jobs=1,
                                 pytest_args=extra)
            singles.append(wall)
            wall, measured = _timed_run(mlist, root / "full", jobs=jobs, pytest_args=extra)
            fulls.append(wall)
            cell_sum = sum(r.seconds for r in measured.results.values())
            print(f"run {i + 1}: slowest cell alone {singles[-1]:.1f} s; matrix "
                  f"{fulls[-1]:.1f} s with {jobs} jobs (sum of cells {cell_sum:.1f} s)")
            if args.nox:
                noxes.append(_nox())
                print(f"        nox -s conformance {noxes[-1]:.1f} s")
            if args.serial:
                wall, _ = _timed_run(mlist, root / "serial", jobs=1, pytest_args=extra)
                serials.append(wall)
                print(f"        matrix one cell at a time {serials[-1]:.1f} s")
    single, full = statistics.median(singles), statistics.median(fulls)
    print(f"\nmedian of {args.runs}: slowest cell {single:.1f} s, matrix {full:.1f} s "
          f"({len(statuses)} cells, {jobs} jobs)")
    print(f"matrix / slowest cell = {full / single:.2f}x (target <= 2.00x)")
    if noxes:
        print(f"nox -s conformance / slowest cell = {statistics.median(noxes) / single:.2f}x "
              f"(median {statistics.median(noxes):.1f} s)")
    if serials:
        serial = statistics.median(serials)
        print(f"serial / parallel = {serial / full:.2f}x speed-up from running cells side by "
              "side")
    return 0


if __name__ == "__main__":
    sys.exit(main())
