"""Cost of the strict sandbox, against the unsandboxed worker measured in the same run.

Targets (issue 4): worker ready <= 1.5x unsandboxed; a no-op call round trip
<= 1.1x (namespaces cost at spawn only; calls are pipe round trips).

    python benchmarks/bench_sandbox.py [--runs 15] [--calls 2000]

Prints medians and ratios.  The "worker" is a trivial Python loop echoing
frames on a pipe pair passed in ``pass_fds``, like the real protocol.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcs_conformance._seams import (
    Launcher,
    Limits,
    PluginEnv,
    SubprocessLauncher,
    WorkerSpec,
)
from vcs_conformance.sandbox import make_launcher

_ECHO = """\
import os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
os.write(w, b"ready\\n")
while True:
    data = os.read(r, 65536)
    if not data:
        break
    os.write(w, data)
"""


def _spec(tmp: Path, script: Path, fds: tuple[int, int]) -> WorkerSpec:
    python = os.path.realpath(sys.executable)
    temp_dir = Path(tempfile.mkdtemp(dir=tmp))
    return WorkerSpec(
        argv=(python, "-I", str(script), str(fds[0]), str(fds[1])),
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, pass_fds=fds,
        plugin_env=PluginEnv(python=Path(python),
                             readonly_paths=(Path(os.path.realpath(sys.base_prefix)),)),
        limits=Limits(), workspace=None, temp_dir=temp_dir,
        stdout_path=tmp / "out", stderr_path=tmp / "err", worker_script=script)


def measure(launcher: Launcher, tmp: Path, script: Path, calls: int) -> tuple[float, float]:
    """(seconds until the worker says ready, median seconds of one no-op round trip)."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    t0 = time.perf_counter()
    worker = launcher.start(_spec(tmp, script, (to_r, from_w)))
    os.close(to_r)
    os.close(from_w)
    assert os.read(from_r, 6) == b"ready\n"
    ready = time.perf_counter() - t0
    trips = []
    for _ in range(calls):
        t = time.perf_counter()
        os.write(to_w, b"{}\n")
        os.read(from_r, 64)
        trips.append(time.perf_counter() - t)
    os.close(to_w)
    os.close(from_r)
    worker.close()
    return ready, statistics.median(trips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    strict = make_launcher("strict")
    plain = SubprocessLauncher()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)
        script = tmp / "echo_worker.py"
        script.write_text(_ECHO)
        os.chmod(script, 0o644)
        results: dict[str, list[tuple[float, float]]] = {"off": [], "strict": []}
        measure(strict, tmp, script, 10)  # warm caches
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            results["off"].append(measure(plain, tmp, script, args.calls))
            results["strict"].append(measure(strict, tmp, script, args.calls))
    med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
           for k, v in results.items()}
    off, strict_ = med["off"], med["strict"]
    print(f"worker ready   off {off[0] * 1e3:7.2f} ms   strict {strict_[0] * 1e3:7.2f} ms"
          f"   ratio {med['strict'][0] / med['off'][0]:.2f}x (target <= 1.5x)")
    print(f"no-op call     off {off[1] * 1e6:7.1f} us   strict {strict_[1] * 1e6:7.1f} us"
          f"   ratio {med['strict'][1] / med['off'][1]:.2f}x (target <= 1.1x)")


if __name__ == "__main__":
    main()
