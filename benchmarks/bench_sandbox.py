"""Cost of the strict sandbox through the reference host, against ``off`` in the same run.

Targets (issue 4), both for the same trivial plugin loaded with
``PluginHost.load`` (spawn, discover, import, ``register``: the worker ready):

* strict worker ready <= 1.5x the unsandboxed worker ready;
* a no-op call round trip (``init({})`` on a warm worker) strict <= 1.1x
  unsandboxed: namespaces cost at spawn only, calls are pipe round trips.

    python benchmarks/bench_sandbox.py [--runs 15] [--calls 3000]

Prints medians and the median of paired ratios (each strict run right after
an unsandboxed one, so load changes on a shared machine hit both alike);
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pinning import one_cpu

from vcs_conformance._seams import Launcher, SubprocessLauncher
from vcs_conformance.host import PluginHost
from vcs_conformance.sandbox import make_launcher

TARGETS = {"ready_ratio": 1.5, "noop_ratio": 1.1}

_PLUGIN = '''
def register(registry):
    def init(config):
        return None

    def synthesize(text, voice_config):
        return None

    return {"init": init, "synthesize": synthesize}
'''


def _project(root: Path) -> Path:
    """A trivial plugin project, readable by the sandbox's unprivileged uid."""
    pkg = root / "bench_trivial"
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "bench-trivial"\nversion = "0.1.0"\n'
        '[project.entry-points."vcs.plugins"]\nbench-trivial = "bench_trivial.plugin"\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(_PLUGIN)
    (pkg / "vcs_plugin.yaml").write_text(
        'name: bench-trivial\nversion: "0.1.0"\ndescription: "benchmark plugin"\n'
        'api_version: "1.2"\n')
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


def _ready(host: PluginHost, project: Path) -> float:
    started = time.perf_counter()
    plugin = host.load(project)
    elapsed = time.perf_counter() - started
    plugin.close()
    host.plugins.remove(plugin)
    return elapsed


def _noop(plugins: dict[str, Any], calls: int, block: int = 100) -> dict[str, list[float]]:
    """Median no-op round trip per block of ``block`` calls, levels alternating."""
    medians: dict[str, list[float]] = {level: [] for level in plugins}
    for _ in range(max(1, calls // block)):
        for level, plugin in plugins.items():
            trips = []
            for _ in range(block):
                started = time.perf_counter()
                plugin.init({})
                trips.append(time.perf_counter() - started)
            medians[level].append(statistics.median(trips))
    return medians


def _paired(values: dict[str, list[float]]) -> tuple[float, float, float]:
    """(median off, median strict, median of the per-pair ratios strict/off).

    Pairs were measured back to back, so a ratio of a pair sees the same load
    on a shared machine; the median of those ratios is the robust figure.
    """
    off, strict = values["off"], values["strict"]
    ratios = [s / o for o, s in zip(off, strict, strict=True)]
    return statistics.median(off), statistics.median(strict), statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    launchers: dict[str, Launcher] = {"off": SubprocessLauncher()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        launchers["strict"] = make_launcher("strict")  # the probe runs once, here
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)
        project = _project(tmp / "project")
        hosts = {level: PluginHost(workspace=tmp / f"ws-{level}", launcher=launcher)
                 for level, launcher in launchers.items()}
        try:
            for host in hosts.values():  # warm the page cache and the spawner thread
                _ready(host, project)
            ready: dict[str, list[float]] = {level: [] for level in hosts}
            for _ in range(args.runs):
                for level, host in hosts.items():
                    ready[level].append(_ready(host, project))
            plugins = {level: host.load(project) for level, host in hosts.items()}
            for plugin in plugins.values():
                plugin.init({})
            with one_cpu():  # see benchmarks/_pinning.py
                n = _noop(plugins, args.calls)
        finally:
            for host in hosts.values():
                host.close()
    r_off, r_strict, ready_ratio = _paired(ready)
    n_off, n_strict, noop_ratio = _paired(n)
    ratios = {"ready_ratio": ready_ratio, "noop_ratio": noop_ratio}
    print(f"worker ready (PluginHost.load)  off {r_off * 1e3:7.2f} ms   strict "
          f"{r_strict * 1e3:7.2f} ms   ratio {ready_ratio:.2f}x "
          f"(target <= {TARGETS['ready_ratio']}x)")
    print(f"no-op call (init({{}}))          off {n_off * 1e6:7.1f} us   strict "
          f"{n_strict * 1e6:7.1f} us   ratio {noop_ratio:.2f}x "
          f"(target <= {TARGETS['noop_ratio']}x)")
    missed = [k for k, target in TARGETS.items() if ratios[k] > target]
    if missed:
        print("MISSED: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
