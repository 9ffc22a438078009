"""Reference host performance against baselines measured in the same run (issue 3).

Run: ``python benchmarks/bench_host.py [--repeat 7]``.  Prints medians and
ratios; exits 1 when a target is missed (targets in ``TARGETS``).

1. No-op hook round trip through a warm worker vs a bare length-prefixed
   JSON echo over a pipe between two Python processes (calls/s as well).
2. Worker ready (spawn, import, ``register``) for a trivial plugin vs
   ``python -c "import that_plugin"``.
3. A 1 MiB result vs ``json.dumps`` + ``json.loads`` of it plus the pipe copy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pinning import one_cpu

from vcs_conformance._seams import SubprocessLauncher
from vcs_conformance.host import PluginHost

TARGETS = {"noop_ratio": 3.0, "noop_calls_per_s": 5000.0, "ready_ratio": 1.3, "mib_ratio": 2.0}

PLUGIN = '''
_BIG = []


def _big():
    if not _BIG:
        items = [{"id": f"id{i:05d}", "audio": f"datasets/big/wavs/id{i:05d}.wav",
                  "text": "A sentence of some length, for the sake of size. " * 2,
                  "duration_s": 0.5 + i * 1e-4} for i in range(5800)]
        _BIG.append({"items": items, "sample_rate": 22050})
    return _BIG[0]


def register(registry):
    def init(config):
        return _big() if config.get("big") else None

    def synthesize(text, voice_config):
        return None

    return {"init": init, "synthesize": synthesize}
'''

ECHO_CHILD = r'''
import json, os, struct, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
def read(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(r, n - len(buf))
        if not chunk:
            sys.exit(0)
        buf += chunk
    return buf
raw = len(sys.argv) > 3
while True:
    (size,) = struct.unpack(">I", read(4))
    data = read(size)
    out = b"1" if raw else json.dumps(json.loads(data)).encode()
    os.write(w, struct.pack(">I", len(out)) + out)
'''


def _project(root: Path) -> Path:
    pkg = root / "vcs_bench_trivial"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "vcs_plugin.yaml").write_text(
        'name: vcs-bench-trivial\nversion: "0.1.0"\ndescription: Benchmark plugin.\n'
        'api_version: "1.2"\n')
    (root / "pyproject.toml").write_text(
        '[project]\nname = "vcs-bench-trivial"\nversion = "0.1.0"\n\n'
        '[project.entry-points."vcs.plugins"]\nvcs-bench-trivial = "vcs_bench_trivial.plugin"\n')
    return root


def _median(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def _paired(base: Callable[[], float], subject: Callable[[], float],
            repeat: int) -> tuple[float, float]:
    """Medians of interleaved runs, so load from other processes hits both alike."""
    a, b = [], []
    for _ in range(repeat):
        a.append(base())
        b.append(subject())
    return statistics.median(a), statistics.median(b)


class Echo:
    """The baseline peer: a second Python process echoing length-prefixed JSON."""

    def __init__(self, raw: bool = False) -> None:
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", ECHO_CHILD, str(to_r),
                                      str(from_w), *(["raw"] if raw else [])],
                                     pass_fds=(to_r, from_w))
        os.close(to_r)
        os.close(from_w)

    def call(self, msg: Any) -> Any:
        return json.loads(self.send(json.dumps(msg).encode()))

    def send(self, data: bytes) -> bytes:
        import struct
        view = memoryview(struct.pack(">I", len(data)) + data)
        while view:
            view = view[os.write(self.to_w, view):]
        head = b""
        while len(head) < 4:
            head += os.read(self.from_r, 4 - len(head))
        (size,) = struct.unpack(">I", head)
        chunks, left = [], size
        while left:
            chunk = os.read(self.from_r, min(left, 1 << 20))
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        os.close(self.to_w)
        os.close(self.from_r)
        self.proc.wait()


def bench_noop(plugin: Any, repeat: int, n: int = 500) -> dict[str, float]:
    echo = Echo()
    msg = {"op": "call", "id": 1, "hook": "init", "args": [{}]}

    def bare() -> float:
        start = time.perf_counter()
        for _ in range(n):
            echo.call(msg)
        return (time.perf_counter() - start) / n

    def host() -> float:
        start = time.perf_counter()
        for _ in range(n):
            plugin.init({})
        return (time.perf_counter() - start) / n

    with one_cpu():  # see benchmarks/_pinning.py: placement, not code, decides otherwise
        bare(), host()  # warm up
        b, h = _paired(bare, host, repeat)
    echo.close()
    return {"noop_bare_us": b * 1e6, "noop_host_us": h * 1e6, "noop_ratio": h / b,
            "noop_calls_per_s": 1 / h}


def bench_ready(host: PluginHost, project: Path, plugin: Any, repeat: int) -> dict[str, float]:
    def baseline() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import vcs_bench_trivial.plugin"], cwd=project,
                       check=True)
        return time.perf_counter() - start

    def respawn() -> float:
        assert plugin._conn is not None
        plugin._conn.kill()
        plugin._conn.process.wait()
        start = time.perf_counter()
        plugin._worker()  # spawn, import, register: what a dead worker costs
        return time.perf_counter() - start

    def load() -> float:
        start = time.perf_counter()
        loaded = host.load(project)
        took = time.perf_counter() - start
        loaded.close()
        host.plugins.remove(loaded)
        return took

    baseline(), respawn()
    b, r = _paired(baseline, respawn, repeat)
    full = _median(load, repeat)
    return {"ready_baseline_ms": b * 1e3, "ready_worker_ms": r * 1e3, "ready_ratio": r / b,
            "load_ms": full * 1e3, "load_ratio": full / b}


def bench_mib(plugin: Any, repeat: int) -> dict[str, float]:
    big = plugin.init({"big": True})  # built once inside the plugin, then cached there
    data = json.dumps(big).encode()
    echo = Echo(raw=True)

    def baseline() -> float:
        start = time.perf_counter()
        copy = json.dumps(big).encode()
        echo.send(copy)  # the pipe copy to another process
        json.loads(copy)
        return time.perf_counter() - start

    def host() -> float:
        start = time.perf_counter()
        plugin.init({"big": True})
        return time.perf_counter() - start

    baseline(), host()
    b, h = _paired(baseline, host, repeat)
    echo.close()
    return {"mib_bytes": float(len(data)), "mib_baseline_ms": b * 1e3, "mib_host_ms": h * 1e3,
            "mib_ratio": h / b}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp) / "proj")
        # The host's own cost, so no sandbox: bench_sandbox.py measures what strict adds.
        with PluginHost(workspace=Path(tmp) / "ws", launcher=SubprocessLauncher()) as host:
            plugin = host.load(project)
            figures = bench_noop(plugin, args.repeat)
            figures.update(bench_ready(host, project, plugin, args.repeat))
            figures.update(bench_mib(plugin, args.repeat))
    for key, value in figures.items():
        print(f"{key:22s} {value:12.2f}")
    failed = []
    for key, target in TARGETS.items():
        value = figures[key]
        ok = value >= target if key.endswith("per_s") else value <= target
        print(f"target {key:16s} {'<=' if not key.endswith('per_s') else '>='} {target:<8g}"
              f" {'ok' if ok else 'MISSED'} ({value:.2f})")
        if not ok:
            failed.append(key)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
