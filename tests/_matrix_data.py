"""Synthetic pytest reports and matrices for the matrix tests (no plugin is run)."""

from __future__ import annotations

from typing import Any

from vcs_conformance._matrix import Matrix, classify
from vcs_conformance._matrix_list import Cell
from vcs_conformance._matrix_verdicts import BaselineCell

CHECK_IDS = ("manifest-present", "manifest-schema", "compat-core", "register-hooks",
             "synthesize-valid", "synthesize-invalid", "hygiene")


def report(kind: str = "native", *, chain: tuple[str, ...] = ("1.2",), rule: str | None = None,
           message: str = "", failed: dict[str, str] | None = None,
           api: str = "1.2", skipped_all: bool = False,
           shim_skipped: bool = False) -> dict[str, Any]:
    """A report as ``--vcs-report`` writes it (schemas/common/report.schema.json)."""
    failed = failed or {}
    checks: dict[str, dict[str, Any]] = {}
    ids = (*CHECK_IDS, "shim-equivalence")
    for cid in (*ids, *sorted(set(failed) - set(ids))):
        if cid in failed:
            checks[cid] = {"outcome": "failed", "reason": failed[cid]}
        elif cid == "shim-equivalence" and (kind != "shim" or shim_skipped):
            checks[cid] = {"outcome": "skipped", "reason": "no shim chain serves this plugin"}
        elif skipped_all or (kind == "incompatible" and cid not in ("manifest-present",
                                                                       "manifest-schema")):
            checks[cid] = {"outcome": "skipped", "reason": message or "skipped"}
        else:
            checks[cid] = {"outcome": "passed"}
    counts: dict[str, int] = {}
    for entry in checks.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    return {
        "version": 1, "created": "2026-01-01T00:00:00+00:00",
        "settings": {"core_version": "1.2.0", "shim_window": 1, "sandbox": "auto",
                     "env": "isolated", "profile": "ci", "suite": "1.0"},
        "plugins": [{
            "plugin": "/p", "counts": counts, "checks": checks,
            "info": {"name": "vcs-demo", "version": "1.0.0", "api_version": api,
                     "decision": {"kind": kind, "chain": list(chain) if kind != "incompatible"
                                  else [], "rule": rule, "message": message}},
        }],
    }


def cell(plugin: str, core: str, window: int = 1, column: str | None = None) -> Cell:
    return Cell(plugin, core, window, column or core)


def matrix(results: dict[tuple[str, str], tuple[str, dict[str, Any]]],
           plugins: list[dict[str, Any]] | None = None) -> Matrix:
    """``{(plugin, column): (api, report-kwargs)}`` -> a classified Matrix."""
    out = {}
    columns: list[str] = []
    for (plugin, column), (api, kwargs) in results.items():
        core, _, window = column.partition("+w")
        c = Cell(plugin, core, int(window) if window else 1, column)
        out[c.key] = classify(c, report(api=api, **kwargs), returncode=1 if kwargs.get("failed")
                              else 0, seconds=2.0)
        if column not in columns:
            columns.append(column)
    ids = list(dict.fromkeys(p for p, _ in results))
    infos = plugins or [{"id": p} for p in ids]
    return Matrix(tuple(sorted({c.partition("+")[0] for c in columns})), 1, columns, infos, out,
                  "2026-01-01T00:00:00+00:00", None, 10.0, 2)


NATIVE = {"kind": "native"}


def shim(chain: tuple[str, ...]) -> dict[str, Any]:
    return {"kind": "shim", "chain": chain}


def skip(rule: str) -> dict[str, Any]:
    return {"kind": "incompatible", "rule": rule, "message": f"refused: {rule}"}


def fail(*ids: str) -> dict[str, Any]:
    return {"kind": "native", "failed": {i: f"{i} broke\nsecond line" for i in ids}}


def base(status: str, rule: str | None = None, failing: tuple[str, ...] = ()) -> BaselineCell:
    return BaselineCell(status, rule, failing)
