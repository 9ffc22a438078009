"""How long the kit takes: the whole catalogue, and the kit's own cost per example.

1. Whole catalogue at default example counts, warm env cache, for a trivial
   conforming plugin: wall time of ``pytest --vcs-plugin`` (median of
   ``--runs``), against bare ``pytest`` start-up measured in the same run.
2. The kit's own cost per hypothesis example (generation, call through the
   worker, validation), excluding the plugin's work: run ``synthesize-valid``
   at two example counts; the slope is the cost of one example; subtract
   the plugin's own hook time, measured by calling the hook in-process on
   the same kind of payload.

Usage: ``python benchmarks/bench_pytest_plugin.py [--plugin DIR] [--runs 3]
[--sandbox strict] [--env isolated]``.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLUGIN = ROOT / "tests" / "fixtures" / "matrix" / "api12"


def _pytest(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 5):
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return elapsed


def _plugin_hook_seconds(plugin: Path, texts: list[str], repeat: int = 20) -> float:
    """Median seconds of the plugin's own synthesize, in-process (no kit)."""
    from vcs_conformance._sources import locate_manifest, project_entry_points

    eps, _ = project_entry_points(plugin / "pyproject.toml")
    module_name = next(iter(eps.values())).split(":")[0]
    source = locate_manifest(plugin)
    assert source.directory is not None
    sys.path.insert(0, str(source.directory.parent))
    module = importlib.import_module(module_name)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        for area in ("outputs", "models", "cache", "datasets"):
            (ws / area).mkdir()
        registry = SimpleNamespace(api_version="1.2", core_version="1.2.0", workspace=ws,
                                   temp_dir=ws / "cache", settings={}, logger=None)
        hooks: dict[str, Any] = module.register(registry)
        times = []
        for _ in range(repeat):
            for text in texts:
                started = time.perf_counter()
                hooks["synthesize"](text, {})
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, default=DEFAULT_PLUGIN)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sandbox", default="strict")
    parser.add_argument("--env", default="isolated")
    args = parser.parse_args()
    plugin = args.plugin.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = [f"--vcs-plugin={plugin}", f"--vcs-sandbox={args.sandbox}",
                  f"--vcs-env={args.env}"]
        _pytest(common, cwd)  # warm the env cache
        bare = statistics.median(_pytest(["--co"], cwd) for _ in range(args.runs))
        whole = statistics.median(_pytest(common, cwd) for _ in range(args.runs))
        low, high = 10, 60
        t_low = statistics.median(_pytest([*common, "-k", "synthesize-valid",
                                           f"--vcs-examples={low}"], cwd)
                                  for _ in range(args.runs))
        t_high = statistics.median(_pytest([*common, "-k", "synthesize-valid",
                                            f"--vcs-examples={high}"], cwd)
                                   for _ in range(args.runs))
    per_example = (t_high - t_low) / (high - low)
    from vcs_conformance._checks._payloads import EDGE_TEXTS

    hook = _plugin_hook_seconds(plugin, list(EDGE_TEXTS[:4]))
    print(f"plugin: {plugin.name}, sandbox {args.sandbox}, env {args.env}, "
          f"medians of {args.runs} runs")
    print(f"{'bare pytest start-up':<44}{bare:8.2f} s")
    print(f"{'whole catalogue (ci profile)':<44}{whole:8.2f} s  "
          f"({whole / bare:.1f}x bare start-up; target <= 10 s)")
    print(f"{'one synthesize-valid example, all in':<44}{per_example * 1000:8.2f} ms")
    print(f"{'  of which the plugin (in-process hook)':<44}{hook * 1000:8.2f} ms")
    print(f"{'  the kit (generation, call, validation)':<44}"
          f"{(per_example - hook) * 1000:8.2f} ms  (target <= 2 ms)")


if __name__ == "__main__":
    main()
