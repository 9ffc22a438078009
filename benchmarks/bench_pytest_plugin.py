"""How long the kit takes: the whole catalogue, and the kit's own cost per example.

Issue 6's targets: with a trivial conforming plugin and a warm env cache,
the whole catalogue at default example counts in <= 10 s; the kit's own
cost per hypothesis example (generation, call, validation, excluding the
plugin's work) <= 2 ms median.

1. Whole catalogue at default example counts, warm env cache: wall time of
   ``pytest --vcs-plugin`` (median of ``--runs``), against bare ``pytest``
   start-up (``--co``) measured in the same run.
2. The kit's own cost per example: ``synthesize-valid`` at two example
   counts; the slope of the *check's own duration* (from ``--vcs-report``,
   so pytest start-up, env and host start-up, the same at both counts, do
   not add their noise) over the examples it really ran is the all-in cost
   of one example.  From it the plugin's share is subtracted: the same
   payload stream (``ci`` is derandomized, so it is the very same examples)
   replayed in-process against the plugin's own ``synthesize``, timed hook
   call by hook call.  Long generated texts make the plugin work far longer
   than on a short sentence, so the plugin's share is measured on exactly
   what the kit sent, not on a few fixed texts.
3. Breakdown, in-process and in the same run: the hypothesis floor (one
   ``st.integers()`` example through the kit's ``run_examples``: what any
   hypothesis-driven check pays), and generating the ``synthesize-valid``
   payloads alone.  What remains of the kit's cost is the call through the
   worker and the validation of its result.

Usage: ``python benchmarks/bench_pytest_plugin.py [--plugin DIR] [--runs 3]
[--sandbox strict] [--env isolated] [--low 10] [--high 60]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # a PYTHONPATH checkout (or the installed kit) wins
DEFAULT_PLUGIN = ROOT / "tests" / "fixtures" / "matrix" / "api12"
CHECK = "synthesize-valid"


def _pytest(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 5):
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return elapsed


def _check_run(common: list[str], cwd: Path, examples: int) -> tuple[float, int]:
    """(seconds the check itself took, examples it ran) for ``--vcs-examples=examples``."""
    report = cwd / f"report-{examples}.json"
    _pytest([*common, "-k", CHECK, f"--vcs-examples={examples}", f"--vcs-report={report}"],
            cwd)
    doc = json.loads(report.read_text(encoding="utf-8"))
    entry = doc["plugins"][0]["checks"][CHECK]
    if entry.get("outcome") != "passed":
        sys.exit(f"{CHECK} did not pass at --vcs-examples={examples}: {entry}")
    return float(entry["duration_s"]), int(entry["examples"])


def _payloads(plugin: Path) -> tuple[Any, list[Any]]:
    """The strategy and edge examples ``synthesize-valid`` uses for this plugin (core 1.2)."""
    import hypothesis.strategies as st

    from vcs_conformance._checks import _payloads as pay
    from vcs_conformance.manifest import load_manifest

    m = load_manifest(plugin)
    configs = pay.voice_configs("1.2", voices=m.voices, sample_rates=m.sample_rates)
    edges: list[Any] = [(t, {}) for t in pay.EDGE_TEXTS] + [
        ("Hello world.", c) for c in pay.edge_voice_configs(m.voices, m.sample_rates)]
    return st.tuples(pay.TEXTS, configs), edges


def _run(strategy: Any, edges: list[Any], examples: int,
         body: Callable[[Any], None]) -> tuple[float, int]:
    """CPU seconds and examples of the kit's ``run_examples`` (``ci`` profile) with ``body``."""
    from vcs_conformance._checks._hypo import run_examples
    from vcs_conformance._checks._outcome import CheckResult

    result = CheckResult()
    started = time.process_time()
    run_examples(profile="ci", examples=examples, seed=None, result=result,
                 strategy=strategy, body=body, edges=edges)
    return time.process_time() - started, result.examples


def _slope(measure: Callable[[int], tuple[float, int]], low: int, high: int,
           runs: int) -> tuple[float, int, int]:
    """Median seconds per example between ``low`` and ``high`` (and the example counts)."""
    slopes, n_low, n_high = [], 0, 0
    for _ in range(runs):
        t_low, n_low = measure(low)
        t_high, n_high = measure(high)
        slopes.append((t_high - t_low) / max(1, n_high - n_low))
    return statistics.median(slopes), n_low, n_high


def _plugin_hooks(plugin: Path, ws: Path) -> dict[str, Any]:
    """The plugin's hooks, registered in this process (no kit, no worker)."""
    from vcs_conformance._sources import locate_manifest, project_entry_points

    eps, _ = project_entry_points(plugin / "pyproject.toml")
    module_name = next(iter(eps.values())).split(":")[0]
    source = locate_manifest(plugin)
    assert source.directory is not None
    sys.path.insert(0, str(source.directory.parent))
    module = importlib.import_module(module_name)
    for area in ("outputs", "models", "cache", "datasets"):
        (ws / area).mkdir(exist_ok=True)
    registry = SimpleNamespace(api_version="1.2", core_version="1.2.0", workspace=ws,
                               temp_dir=ws / "cache", settings={}, logger=None)
    hooks: dict[str, Any] = module.register(registry)
    return hooks


def _plugin_seconds(hooks: dict[str, Any], strategy: Any, edges: list[Any],
                    examples: int) -> tuple[float, int]:
    """Seconds the plugin's own synthesize takes on the payloads the check sends."""
    spent = [0.0]

    def body(payload: tuple[str, dict[str, Any]]) -> None:
        started = time.perf_counter()
        hooks["synthesize"](*payload)
        spent[0] += time.perf_counter() - started

    _, count = _run(strategy, edges, examples, body)
    return spent[0], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, default=DEFAULT_PLUGIN)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sandbox", default="strict")
    parser.add_argument("--env", default="isolated")
    parser.add_argument("--low", type=int, default=10)
    parser.add_argument("--high", type=int, default=60)
    args = parser.parse_args()
    plugin = args.plugin.resolve()
    low, high = args.low, args.high
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = [f"--vcs-plugin={plugin}", f"--vcs-sandbox={args.sandbox}",
                  f"--vcs-env={args.env}"]
        _pytest(common, cwd)  # warm the env cache
        bare = statistics.median(_pytest(["--co"], cwd) for _ in range(args.runs))
        whole = statistics.median(_pytest(common, cwd) for _ in range(args.runs))
        all_in, n_low, n_high = _slope(lambda n: _check_run(common, cwd, n), low, high,
                                       args.runs)
    strategy, edges = _payloads(plugin)
    with tempfile.TemporaryDirectory() as tmp:
        hooks = _plugin_hooks(plugin, Path(tmp))
        _plugin_seconds(hooks, strategy, edges, 2)  # imports, first-use validation
        hook, p_low, p_high = _slope(lambda n: _plugin_seconds(hooks, strategy, edges, n),
                                     low, high, args.runs)
    import hypothesis.strategies as st

    floor, _, _ = _slope(lambda n: _run(st.integers(), [], n, lambda _: None), low, high,
                         args.runs)
    generation, _, _ = _slope(lambda n: _run(strategy, edges, n, lambda _: None), low, high,
                              args.runs)
    kit = all_in - hook
    print(f"plugin: {plugin.name}, sandbox {args.sandbox}, env {args.env}, "
          f"medians of {args.runs} runs")
    print(f"{'bare pytest start-up (--co)':<50}{bare:8.2f} s")
    print(f"{'whole catalogue (ci profile)':<50}{whole:8.2f} s  "
          f"({whole / bare:.1f}x bare start-up; target <= 10 s)")
    print(f"{CHECK} examples run at --vcs-examples={low}/{high}: {n_low}/{n_high}"
          + ("" if (p_low, p_high) == (n_low, n_high) else
             f" (in-process replay ran {p_low}/{p_high}: plugin share approximate)"))
    print(f"{'one example, all in (check duration slope)':<50}{all_in * 1000:8.2f} ms")
    print(f"{'  of which the plugin (same payloads, in-process)':<50}{hook * 1000:8.2f} ms")
    print(f"{'  the kit (generation, call, validation)':<50}{kit * 1000:8.2f} ms  "
          f"(target <= 2 ms; {kit / floor:.1f}x the hypothesis floor)")
    print(f"{'    generating the payloads (in-process CPU)':<50}{generation * 1000:8.2f} ms")
    print(f"{'    call through the worker and validation':<50}"
          f"{(kit - generation) * 1000:8.2f} ms")
    print(f"{'hypothesis floor (st.integers(), in-process)':<50}{floor * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
