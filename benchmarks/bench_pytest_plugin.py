"""How long the kit takes: the whole catalogue, and the kit's own cost per example.

Issue 6's targets: with a trivial conforming plugin and a warm env cache,
the whole catalogue at default example counts in <= 10 s; the kit's own
cost per hypothesis example (generation, call, validation, excluding the
plugin's work) <= 2 ms median.

1. Whole catalogue at default example counts, warm env cache: wall time of
   ``pytest --vcs-plugin`` (median of ``--runs``), against bare ``pytest``
   start-up (``--co``) measured in the same run.
2. The kit's own cost per example, as the kit itself measures it (the
   report's ``kit_ms_per_example``): for each example, the time from the end
   of the previous example to the end of this one (hypothesis generating
   it, the call through the worker, the host's validation) minus the time
   the plugin's hook ran, which the worker times around the hook itself.
   The median over the examples of ``synthesize-valid`` at ``--high``
   examples, median of ``--runs`` runs; every generated check's median too.
3. Cross-checks, in the same run: the slope of the check's duration over
   the examples it ran (10 vs 60: start-up costs cancel) minus the plugin's
   worker-timed share is the *mean* kit cost per example; and in-process,
   the hypothesis floor (one ``st.integers()`` example through the kit's
   ``run_examples``) and generating the ``synthesize-valid`` payloads alone.

Usage: ``python benchmarks/bench_pytest_plugin.py [--plugin DIR] [--runs 3]
[--sandbox strict] [--env isolated] [--low 10] [--high 60]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # a PYTHONPATH checkout (or the installed kit) wins
DEFAULT_PLUGIN = ROOT / "tests" / "fixtures" / "matrix" / "plugins" / "api-1-2"
CHECK = "synthesize-valid"


def _pytest(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 5):
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return elapsed


def _check_run(common: list[str], cwd: Path, examples: int) -> tuple[float, int]:
    """(seconds the check took minus the plugin's share, examples it ran)."""
    report = cwd / f"report-{examples}.json"
    _pytest([*common, "-k", CHECK, f"--vcs-examples={examples}", f"--vcs-report={report}"],
            cwd)
    doc = json.loads(report.read_text(encoding="utf-8"))
    entry = doc["plugins"][0]["checks"][CHECK]
    if entry.get("outcome") != "passed":
        sys.exit(f"{CHECK} did not pass at --vcs-examples={examples}: {entry}")
    return float(entry["duration_s"]) - float(entry["plugin_s"]), int(entry["examples"])


def _medians(common: list[str], cwd: Path, examples: int) -> dict[str, float]:
    """Each generated check's median kit ms per example (the report's own figure)."""
    report = cwd / "report-all.json"
    _pytest([*common, f"--vcs-examples={examples}", f"--vcs-report={report}"], cwd)
    doc = json.loads(report.read_text(encoding="utf-8"))
    return {check: float(entry["kit_ms_per_example"])
            for check, entry in doc["plugins"][0]["checks"].items()
            if "kit_ms_per_example" in entry}


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
        kit_mean, n_low, n_high = _slope(lambda n: _check_run(common, cwd, n), low, high,
                                         args.runs)
        runs = [_medians(common, cwd, high) for _ in range(args.runs)]
    per_check = {c: statistics.median(r[c] for r in runs) for c in runs[0]}
    strategy, edges = _payloads(plugin)
    import hypothesis.strategies as st

    floor, _, _ = _slope(lambda n: _run(st.integers(), [], n, lambda _: None), low, high,
                         args.runs)
    generation, _, _ = _slope(lambda n: _run(strategy, edges, n, lambda _: None), low, high,
                              args.runs)
    print(f"plugin: {plugin.name}, sandbox {args.sandbox}, env {args.env}, "
          f"medians of {args.runs} runs")
    print(f"{'bare pytest start-up (--co)':<52}{bare:8.2f} s")
    print(f"{'whole catalogue (ci profile)':<52}{whole:8.2f} s  "
          f"({whole / bare:.1f}x bare start-up; target <= 10 s)")
    print(f"the kit's own ms per example, median over each check's examples "
          f"(--vcs-examples={high}):")
    for check, value in sorted(per_check.items(), key=lambda kv: kv[1]):
        target = "  (target <= 2 ms)" if check == CHECK else ""
        print(f"  {check:<50}{value:8.2f} ms{target}")
    print(f"cross-check, {CHECK}: examples run at --vcs-examples={low}/{high}: "
          f"{n_low}/{n_high}")
    print(f"{'  mean kit ms per example (duration slope - plugin)':<52}"
          f"{kit_mean * 1000:8.2f} ms")
    print(f"{'  generating the payloads alone (in-process CPU)':<52}"
          f"{generation * 1000:8.2f} ms")
    print(f"{'  hypothesis floor (st.integers(), in-process)':<52}{floor * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
