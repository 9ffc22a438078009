"""The compatibility matrix: plugins x cores, each cell one pytest run, cells in parallel.

Why each cell is a separate ``pytest --vcs-plugin=... --vcs-core-version=...``
subprocess: it is exactly the run a plugin author's CI makes, so the matrix
measures the same thing; a cell that crashes or hangs cannot take the others
down; and the kit's work for one plugin is single-threaded, so a bounded
pool of cell processes is what puts every CPU to use (warm, the whole matrix
costs about its slowest cell rather than the sum of all cells).

A cell's JSON report (``schemas/common/report.schema.json``) is reduced to
one status: ``pass`` (native), ``shimmed`` (passed through the shim chain),
``skipped`` (SPEC 1 refused it; the rule and message are kept), ``fail``
(with the failing check ids) or ``error`` (the run itself broke: no report,
a pytest usage error, a timeout, or nothing ran).  Baselines, expectations
and suggestions are in ``_matrix_verdicts``; rendering in ``_matrix_render``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ._matrix_list import (
    STATUSES,
    Cell,
    Expectation,
    MatrixList,
    PluginEntry,
    load_list,
    parse_expectation,
)
from .compat import decide
from .errors import ManifestError, MatrixConfigError

__all__ = [
    "STATUSES",
    "Cell",
    "CellResult",
    "Expectation",
    "Matrix",
    "MatrixList",
    "PluginEntry",
    "classify",
    "default_jobs",
    "load_list",
    "load_results",
    "merge_matrices",
    "parse_expectation",
    "plan_runs",
    "run_matrix",
]

#: Check outcomes that make a cell fail (``xfailed`` is an accepted, expected failure).
FAILING_OUTCOMES = ("failed", "error")
#: Seconds a cell may run before it is killed and reported as ``error``.
DEFAULT_CELL_TIMEOUT = 1800.0


# -- one cell: its result ----------------------------------------------------------------

@dataclass(frozen=True)
class CellResult:
    """The verdict of one cell, reduced from its pytest report."""

    cell: Cell
    status: str
    chain: tuple[str, ...] = ()
    rule: str | None = None
    reason: str = ""
    failing: tuple[str, ...] = ()
    failures: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    plugin: Mapping[str, Any] = field(default_factory=dict)
    report: str | None = None
    #: Outcome of ``shim-equivalence`` in the cell's report (``passed``, ``skipped``...),
    #: None when the report has no such check: a shimmed cell proves its chain only
    #: when it passed (``check_expectations``).
    shim_check: str | None = None

    @property
    def works(self) -> bool:
        return self.status in ("pass", "shimmed")

    @property
    def served(self) -> bool:
        """SPEC 1 let the core load it (it may still fail checks)."""
        return self.status != "skipped"

    def label(self) -> str:
        """One line for a table cell."""
        if self.status == "shimmed":
            return "shimmed " + "->".join(self.chain) if self.chain else "shimmed"
        if self.status == "skipped":
            return f"skipped ({self.rule})"
        if self.status == "fail":
            return "fail: " + ", ".join(self.failing)
        if self.status == "error":
            return "error: " + self.reason.splitlines()[0][:120] if self.reason else "error"
        return "pass"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.cell.key, "plugin": self.cell.plugin, "core": self.cell.core,
            "window": self.cell.window, "column": self.cell.column, "status": self.status,
            "label": self.label(), "chain": list(self.chain), "rule": self.rule,
            "reason": self.reason, "failing": list(self.failing),
            "failures": dict(self.failures), "counts": dict(self.counts),
            "seconds": round(self.seconds, 3), "plugin_info": dict(self.plugin),
            "report": self.report, "shim_check": self.shim_check,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "results") -> CellResult:
        try:
            cell = Cell(str(data["plugin"]), str(data["core"]), int(data["window"]),
                        str(data.get("column") or data["core"]))
            status = str(data["status"])
            if status not in STATUSES:
                raise ValueError(f"status {status!r}")
            return cls(cell, status, tuple(data.get("chain") or ()), data.get("rule"),
                       str(data.get("reason") or ""), tuple(data.get("failing") or ()),
                       dict(data.get("failures") or {}), dict(data.get("counts") or {}),
                       float(data.get("seconds") or 0.0), dict(data.get("plugin_info") or {}),
                       data.get("report"),
                       str(data["shim_check"]) if data.get("shim_check") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise MatrixConfigError(f"{where}: a cell entry is malformed ({exc}): "
                                    f"{json.dumps(data)[:200]}") from None


def classify(cell: Cell, report: Mapping[str, Any] | None, *, returncode: int | None,
             log_tail: str = "", seconds: float = 0.0, report_ref: str | None = None,
             handle: str | None = None) -> CellResult:
    """Reduce one pytest run (its JSON report and exit code) to a cell status.

    ``handle`` (the ``--vcs-plugin`` value) picks the cell's plugin out of a
    report of several; its exit code is then the one its own checks give.
    """
    def error(reason: str, **extra: Any) -> CellResult:
        tail = f"\n{log_tail.strip()}" if log_tail.strip() else ""
        fields: dict[str, Any] = {"seconds": seconds, "report": report_ref, **extra}
        return CellResult(cell, "error", reason=reason + tail, **fields)

    if returncode is None:
        return error("the cell timed out and was killed")
    if report is None:
        return error(f"pytest exited {returncode} without writing a report")
    entries = report.get("plugins") or []
    if handle is not None and len(entries) > 1:
        entries = [e for e in entries if (e.get("info") or {}).get("handle") == handle]
        if returncode in (0, 1) and entries:
            checks_of = entries[0].get("checks") or {}
            returncode = int(any(c.get("outcome") in FAILING_OUTCOMES
                                 for c in checks_of.values()))
    if not entries:
        return error(f"the report lists no plugin (pytest exited {returncode})")
    entry = entries[0]
    info = dict(entry.get("info") or {})
    decision = info.get("decision") or {}
    checks: Mapping[str, Mapping[str, Any]] = entry.get("checks") or {}
    counts = {str(k): int(v) for k, v in (entry.get("counts") or {}).items()}
    failing = tuple(sorted(k for k, c in checks.items() if c.get("outcome") in FAILING_OUTCOMES))
    failures = {k: str(checks[k].get("reason") or "") for k in failing}
    plugin = {k: info[k] for k in ("name", "version", "api_version") if k in info}
    shim_check = (checks.get("shim-equivalence") or {}).get("outcome")
    common: dict[str, Any] = dict(counts=counts, seconds=seconds, plugin=plugin,
                                  report=report_ref, chain=tuple(decision.get("chain") or ()),
                                  rule=decision.get("rule"),
                                  shim_check=str(shim_check) if shim_check else None)
    if returncode not in (0, 1):
        return error(f"pytest exited {returncode} (not a test verdict)", **common)
    if failing:
        return CellResult(cell, "fail", failing=failing, failures=failures,
                          reason=f"{len(failing)} failing check(s)", **common)
    if decision.get("kind") == "incompatible":
        return CellResult(cell, "skipped", reason=str(decision.get("message") or ""), **common)
    if returncode == 1:
        notes = "; ".join(str(n) for n in report.get("notes") or [])
        return error("pytest failed but no check failed" + (f": {notes}" if notes else ""),
                     **common)
    if not counts.get("passed"):
        reasons = sorted({str(c.get("reason")) for c in checks.values()
                          if c.get("outcome") == "skipped" and c.get("reason")})
        return error("no check passed" + (f"; skipped: {reasons[0]}" if reasons else ""),
                     **common)
    if decision.get("kind") == "shim" and shim_check != "passed":
        # "shimmed" means the chain was proven (docs/ci.md): a run that did not prove
        # it (the check deselected or skipped) cannot say so.
        return error(f"served through the shim chain, but shim-equivalence "
                     f"{shim_check or 'did not run'}", **common)
    status = "shimmed" if decision.get("kind") == "shim" else "pass"
    message = str(decision.get("message") or "")
    return CellResult(cell, status, reason=message, **common)


# -- the whole matrix --------------------------------------------------------------------

@dataclass
class Matrix:
    """Results of a run (or of several merged), in list order."""

    cores: tuple[str, ...]
    shim_window: int
    columns: list[str]
    plugins: list[dict[str, Any]]
    results: dict[str, CellResult]
    created: str = ""
    list_path: str | None = None
    wall_seconds: float = 0.0
    jobs: int = 1

    def result(self, plugin: str, column: str) -> CellResult | None:
        return self.results.get(f"{plugin}@{column}")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1, "created": self.created, "list": self.list_path,
            "cores": list(self.cores), "shim_window": self.shim_window,
            "columns": self.columns, "plugins": self.plugins,
            "wall_seconds": round(self.wall_seconds, 3), "jobs": self.jobs,
            "cells": [r.to_json() for r in self.results.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "results") -> Matrix:
        if not isinstance(data, Mapping) or data.get("version") != 1 \
                or not isinstance(data.get("cells"), list):
            raise MatrixConfigError(f"{where}: not a compat-matrix.json of version 1 (it needs "
                                    "\"version\": 1 and a \"cells\" list)")
        results = {}
        for raw in data["cells"]:
            res = CellResult.from_json(raw, where)
            results[res.cell.key] = res
        return cls(tuple(data.get("cores") or ()), int(data.get("shim_window", 1)),
                   list(data.get("columns") or ()), list(data.get("plugins") or ()), results,
                   str(data.get("created") or ""), data.get("list"),
                   float(data.get("wall_seconds") or 0.0), int(data.get("jobs") or 1))


def load_results(path: Path | str) -> Matrix:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MatrixConfigError(f"{path}: cannot read the results: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatrixConfigError(f"{path}: not JSON: {exc}") from None
    return Matrix.from_json(data, str(path))


def merge_matrices(parts: Sequence[Matrix]) -> Matrix:
    """One matrix from the partial ones of a fanned-out CI run (later parts win per cell)."""
    if not parts:
        raise MatrixConfigError("nothing to merge: give at least one compat-matrix.json")
    cores: list[str] = []
    columns: list[str] = []
    plugins: dict[str, dict[str, Any]] = {}
    results: dict[str, CellResult] = {}
    for part in parts:
        cores.extend(c for c in part.cores if c not in cores)
        columns.extend(c for c in part.columns if c not in columns)
        for info in part.plugins:
            plugins.setdefault(str(info.get("id")), {}).update(info)
        results.update(part.results)
    columns.sort(key=_column_order)
    order = {c: i for i, c in enumerate(columns)}
    pids = list(plugins)
    ordered = sorted(results.values(), key=lambda r: (pids.index(r.cell.plugin)
                                                      if r.cell.plugin in pids else len(pids),
                                                      order.get(r.cell.column, len(order))))
    return Matrix(tuple(cores), parts[0].shim_window, columns, list(plugins.values()),
                  {r.cell.key: r for r in ordered}, _now(), parts[0].list_path,
                  max(p.wall_seconds for p in parts), max(p.jobs for p in parts))


def _column_order(column: str) -> tuple[Version, int]:
    core, _, window = column.partition("+w")
    try:
        return Version(core), int(window or -1)
    except (InvalidVersion, ValueError):
        return Version("0"), 0


def default_jobs() -> int:
    """CPUs this process may use (cgroup/affinity aware where the OS says)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


def plugin_info(entry: PluginEntry) -> dict[str, Any]:
    """What the manifest declares (path plugins); used for scheduling and suggestions."""
    info: dict[str, Any] = {"id": entry.id, "source": entry.source, "kind": entry.kind}
    if entry.kind != "path":
        return info
    from .manifest import load_manifest

    with contextlib.suppress(ManifestError, OSError):
        manifest = load_manifest(Path(entry.source))
        info.update(name=manifest.name, version=manifest.version,
                    api_version=manifest.api_version,
                    core_version=str(manifest.raw.get("core_version", manifest.core_version))
                    if manifest.core_version is not None else None)
    return info


def _predicted_cost(cell: Cell, info: Mapping[str, Any], previous: Matrix | None) -> float:
    """Longest first: last run's seconds when known, else served cells before refused ones."""
    if previous is not None:
        before = previous.results.get(cell.key)
        if before is not None and before.status != "error" and before.seconds > 0:
            return before.seconds
    api = info.get("api_version")
    if not isinstance(api, str):
        return 500.0
    try:
        served = decide(api, cell.core, window=cell.window,
                        core_spec=info.get("core_version")).compatible
    except ValueError:
        return 500.0
    return 1000.0 if served else 1.0


def _has_entry_point(python: str) -> bool:
    """Whether ``python`` auto-loads the kit's pytest plugin (``-p`` would register it twice)."""
    probe = ("import importlib.metadata as m; print(any(ep.value.startswith("
             "'vcs_conformance.pytest_plugin') for ep in m.entry_points(group='pytest11')))")
    if Path(python).resolve() == Path(sys.executable).resolve():
        return any(ep.value.startswith("vcs_conformance.pytest_plugin")
                   for ep in importlib.metadata.entry_points(group="pytest11"))
    proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False,
                          timeout=120)
    return proc.stdout.strip() == "True"


def cell_command(cell: Cell, entry: PluginEntry | Sequence[PluginEntry], cell_dir: Path, *,
                 python: str, load_plugin: bool, pytest_args: Sequence[str] = ()) -> list[str]:
    """The pytest command of one cell, or of one batch of cells of a column (several
    plugins), isolated from any surrounding pytest config.

    ``--assert=plain``: a cell runs only the kit's items, which never use
    pytest's assertion rewriting, while rewriting every module of every
    installed pytest plugin (hypothesis' too) cost a second per cell where
    bytecode is not cached (``PYTHONDONTWRITEBYTECODE``).
    """
    entries = [entry] if isinstance(entry, PluginEntry) else list(entry)
    cmd = [python, "-m", "pytest"]
    if load_plugin:
        cmd += ["-p", "vcs_conformance.pytest_plugin"]
    cmd += ["-c", str(cell_dir / "pytest.ini"), "--rootdir", str(cell_dir),
            "-p", "no:cacheprovider", "--assert=plain", "-q", "-rfE",
            *(f"--vcs-plugin={e.source}" for e in entries),
            f"--vcs-core-version={cell.core}",
            f"--vcs-shim-window={cell.window}", f"--vcs-report={cell_dir / 'report.json'}",
            f"--vcs-repro-dir={cell_dir / 'repro'}", *pytest_args]
    return cmd


def _run_cells(cells: Sequence[Cell], entries: Sequence[PluginEntry], out_dir: Path, *,
               python: str, load_plugin: bool, pytest_args: Sequence[str], timeout: float,
               env: Mapping[str, str]) -> list[CellResult]:
    """One pytest run: a cell, or a batch of cells of one column (one per entry)."""
    name = cells[0].key if len(cells) == 1 else f"batch@{cells[0].column}"
    cell_dir = out_dir / "cells" / _slug(name)
    cell_dir.mkdir(parents=True, exist_ok=True)
    report_path = cell_dir / "report.json"
    with contextlib.suppress(FileNotFoundError):
        report_path.unlink()
    # An empty ini: rootdir and config are the cell's, never a surrounding project's.
    (cell_dir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    cmd = cell_command(cells[0], entries, cell_dir, python=python, load_plugin=load_plugin,
                       pytest_args=pytest_args)
    log_path = cell_dir / "pytest.log"
    started = time.perf_counter()
    returncode: int | None
    with open(log_path, "wb") as log:
        log.write((" ".join(cmd) + "\n\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cell_dir, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    seconds = (time.perf_counter() - started) / len(cells)
    report: dict[str, Any] | None = None
    with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
        report = json.loads(report_path.read_text(encoding="utf-8"))
    tail = ""
    if report is None or returncode not in (0, 1):
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        tail = "\n".join(lines[-12:])
    ref = str(report_path.relative_to(out_dir)) if report is not None else None
    return [classify(cell, report, returncode=returncode, log_tail=tail, seconds=seconds,
                     report_ref=ref, handle=entry.source if len(cells) > 1 else None)
            for cell, entry in zip(cells, entries, strict=True)]


def _predicted_refusal(cell: Cell, info: Mapping[str, Any]) -> bool:
    """Whether SPEC 1, on what the manifest declares, refuses the plugin on the cell's core."""
    api = info.get("api_version")
    if not isinstance(api, str):
        return False
    try:
        return not decide(api, cell.core, window=cell.window,
                          core_spec=info.get("core_version")).compatible
    except ValueError:
        return False


def plan_runs(cells: Sequence[Cell], infos: Mapping[str, Mapping[str, Any]], *,
              batch_refused: bool = True) -> list[list[Cell]]:
    """The pytest runs for ``cells`` (in their order): one per served cell, and one per
    column for the cells SPEC 1 will refuse there.

    Why batch the refused: such a cell runs nothing but the manifest checks,
    so nearly all its cost was pytest and the kit starting up (a second or
    more), while 12 of the kit's own 19 cells are refusals.  A batch is one
    ``pytest`` with several ``--vcs-plugin``: each plugin still gets its own
    verdict from the one report.  A served cell always runs alone (isolation:
    its crash or hang cannot touch another plugin).  A misprediction only
    costs time: the batch runs that plugin's whole catalogue.
    """
    runs: list[list[Cell]] = []
    batches: dict[str, list[Cell]] = {}
    for cell in cells:
        if batch_refused and _predicted_refusal(cell, infos.get(cell.plugin, {})):
            batches.setdefault(cell.column, []).append(cell)
        else:
            runs.append([cell])
    return runs + list(batches.values())


def run_matrix(mlist: MatrixList, out_dir: Path | str, *, cells: Sequence[Cell] | None = None,
               jobs: int | None = None, python: str | None = None,
               timeout: float = DEFAULT_CELL_TIMEOUT, pytest_args: Sequence[str] = (),
               env: Mapping[str, str] | None = None,
               on_result: Callable[[CellResult], None] | None = None,
               batch_refused: bool = True) -> Matrix:
    """Run ``cells`` (default: all) with at most ``jobs`` pytest runs at once.

    Cells are started longest first (last run's timings from ``out_dir`` when
    present), which is what keeps the wall time near the slowest cell; the
    cells SPEC 1 refuses share one run per column (:func:`plan_runs`) unless
    ``batch_refused`` is False.  The results are also written to
    ``out_dir/compat-matrix.json``.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(mlist.cells() if cells is None else cells)
    jobs = max(1, jobs or default_jobs())
    python = python or sys.executable
    infos = {e.id: plugin_info(e) for e in mlist.plugins}
    previous = None
    with contextlib.suppress(MatrixConfigError):
        previous = load_results(out / "compat-matrix.json")
    order = sorted(chosen, key=lambda c: -_predicted_cost(c, infos[c.plugin], previous))
    environ = dict(os.environ if env is None else env)
    if python == sys.executable:
        kit_root = str(Path(__file__).resolve().parents[1])
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (kit_root, environ.get("PYTHONPATH", "")) if p)
    load_plugin = not _has_entry_point(python)
    args = (*mlist.pytest_args, *pytest_args)
    started = time.perf_counter()
    results: dict[str, CellResult] = {}

    def one(run: list[Cell]) -> list[CellResult]:
        done = _run_cells(run, [mlist.plugin(c.plugin) for c in run], out, python=python,
                          load_plugin=load_plugin, pytest_args=args, timeout=timeout,
                          env=environ)
        if on_result is not None:
            for result in done:
                on_result(result)
        return done

    runs = plan_runs(order, infos, batch_refused=batch_refused)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="vcs-cell") as pool:
        for done in pool.map(one, runs):
            for result in done:
                results[result.cell.key] = result
    wall = time.perf_counter() - started
    ordered = {c.key: results[c.key] for c in chosen}
    columns = [c for c in mlist.columns() if any(r.cell.column == c for r in ordered.values())]
    matrix = Matrix(mlist.cores, mlist.shim_window, columns,
                    [infos[e.id] for e in mlist.plugins if any(c.plugin == e.id for c in chosen)],
                    ordered, _now(), str(mlist.path) if mlist.path else None, wall, jobs)
    # The raw results (the artefact writer enriches this file); also the next run's timings.
    tmp = out / "compat-matrix.json.tmp"
    tmp.write_text(json.dumps(matrix.to_json(), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(out / "compat-matrix.json")
    return matrix
