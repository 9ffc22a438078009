"""Judging a matrix: against a baseline (the gate), against expectations, and suggestions.

The gate is the core team's canary, so its rule is "only new failures
block": a cell blocks when a check fails that did not fail in the committed
baseline, when a plugin the core used to serve is now refused, or when a
cell that used to run now errors.  A cell that got better never blocks; it
is reported so the baseline can be raised on purpose (``--update-baseline``).

Expectations are stricter (exact status, rule, failing ids): they are the
kit's own assertion that each emulated core treats each fixture plugin as
SPEC 1 says.  Suggestions turn what was measured into the ``api_version``
and ``core_version`` a plugin's manifest should declare.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ._matrix import CellResult, Matrix
from ._matrix_list import STATUSES, Expectation, MatrixList
from .compat import decide, parse_api
from .errors import MatrixConfigError

__all__ = [
    "BaselineCell",
    "Change",
    "Comparison",
    "Mismatch",
    "Suggestion",
    "baseline_document",
    "check_expectations",
    "compare",
    "expected_chain",
    "load_baseline",
    "suggest",
    "write_baseline",
]

#: Pseudo check id standing for "the cell itself broke" in failure sets.
CELL_ERROR = "(cell-error)"


@dataclass(frozen=True)
class BaselineCell:
    """What the baseline accepted for one cell."""

    status: str
    rule: str | None = None
    failing: tuple[str, ...] = ()

    @property
    def failure_set(self) -> frozenset[str]:
        if self.status == "error":
            return frozenset({CELL_ERROR})
        return frozenset(self.failing) if self.status == "fail" else frozenset()

    def label(self) -> str:
        if self.status == "skipped":
            return f"skipped ({self.rule})"
        if self.status == "fail":
            return "fail: " + ", ".join(self.failing)
        return self.status


def baseline_document(matrix: Matrix) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for key, res in matrix.results.items():
        entry: dict[str, Any] = {"status": res.status}
        if res.status == "skipped":
            entry["rule"] = res.rule
        if res.status == "fail":
            entry["failing"] = list(res.failing)
        cells[key] = entry
    return {"version": 1, "created": matrix.created, "cells": cells}


def write_baseline(path: Path | str, matrix: Matrix) -> Path:
    """Accept this run as the new baseline (written atomically, keys sorted for diffs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    doc = baseline_document(matrix)
    doc["cells"] = dict(sorted(doc["cells"].items()))
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_baseline(path: Path | str) -> dict[str, BaselineCell]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MatrixConfigError(f"{path}: no baseline file", hint="run the gate once with "
                                "--update-baseline to record one, review it and commit it") \
            from None
    except OSError as exc:
        raise MatrixConfigError(f"{path}: cannot read the baseline: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatrixConfigError(f"{path}: the baseline is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1 \
            or not isinstance(data.get("cells"), dict):
        raise MatrixConfigError(f"{path}: not a baseline of version 1 (it needs \"version\": 1 "
                                "and a \"cells\" object)")
    out = {}
    for key, raw in data["cells"].items():
        where = f"{path}: cells.{key}"
        if not isinstance(raw, dict) or raw.get("status") not in STATUSES:
            raise MatrixConfigError(f"{where}: needs a status, one of {', '.join(STATUSES)}")
        failing = raw.get("failing", [])
        if not isinstance(failing, list) or not all(isinstance(f, str) for f in failing):
            raise MatrixConfigError(f"{where}.failing: a list of check ids")
        out[str(key)] = BaselineCell(raw["status"], raw.get("rule"), tuple(sorted(failing)))
    return out


@dataclass(frozen=True)
class Change:
    """How one cell moved against the baseline."""

    key: str
    kind: str  # unchanged | improved | regressed | changed | new | dropped
    before: str | None
    after: str | None
    new_failures: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    message: str = ""

    @property
    def blocking(self) -> bool:
        return self.kind == "regressed" or (self.kind == "new" and bool(self.new_failures))

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "blocking": self.blocking,
                "before": self.before, "after": self.after,
                "new_failures": list(self.new_failures), "fixed": list(self.fixed),
                "message": self.message}


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]
    baseline: str | None = None

    @property
    def blocking(self) -> list[Change]:
        return [c for c in self.changes if c.blocking]

    @property
    def improved(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "improved"]

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def summary_lines(self) -> list[str]:
        lines = []
        for change in self.changes:
            if change.kind == "unchanged":
                continue
            mark = "BLOCKS" if change.blocking else change.kind
            lines.append(f"{mark}: {change.key}: {change.message}")
        counts = {k: len(self.of_kind(k)) for k in
                  ("unchanged", "improved", "regressed", "changed", "new", "dropped")}
        lines.append(", ".join(f"{n} {k}" for k, n in counts.items() if n)
                     + f"; {len(self.blocking)} blocking")
        if self.improved:
            lines.append("cells got better: raise the baseline with --update-baseline")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "blocking": len(self.blocking),
                "improved": len(self.improved),
                "changes": [c.to_json() for c in self.changes if c.kind != "unchanged"]}


def _failure_set(status: str, failing: Iterable[str]) -> frozenset[str]:
    if status == "error":
        return frozenset({CELL_ERROR})
    return frozenset(failing) if status == "fail" else frozenset()


def compare(matrix: Matrix, baseline: Mapping[str, BaselineCell],
            baseline_name: str | None = None) -> Comparison:
    """Each cell of ``matrix`` against ``baseline``: only new failures block."""
    changes = []
    for key, res in matrix.results.items():
        before = baseline.get(key)
        after_failing = _failure_set(res.status, res.failing)
        if before is None:
            changes.append(Change(key, "new", None, res.label(),
                                  new_failures=tuple(sorted(after_failing)),
                                  message=f"not in the baseline; now {res.label()}"))
            continue
        new = tuple(sorted(after_failing - before.failure_set))
        fixed = tuple(sorted(before.failure_set - after_failing))
        was_served, now_served = before.status != "skipped", res.status != "skipped"
        if was_served and not now_served:
            kind, message = "regressed", (f"was {before.label()}, now refused by the core "
                                          f"({res.rule}): {res.reason}")
        elif new:
            kind, message = "regressed", (f"new failure(s) {', '.join(new)} (was "
                                          f"{before.label()})")
        elif fixed or (not was_served and now_served):
            kind, message = "improved", (f"was {before.label()}, now {res.label()}"
                                         + (f"; fixed {', '.join(fixed)}" if fixed else ""))
        elif before.label() != BaselineCell(res.status, res.rule, res.failing).label():
            kind, message = "changed", f"was {before.label()}, now {res.label()}"
        else:
            kind, message = "unchanged", res.label()
        changes.append(Change(key, kind, before.label(), res.label(), new, fixed, message))
    for key, before in baseline.items():
        if key not in matrix.results:
            changes.append(Change(key, "dropped", before.label(), None,
                                  message="in the baseline but not run"))
    return Comparison(tuple(changes), baseline_name)


# -- expectations (the conformance session) -----------------------------------------------

@dataclass(frozen=True)
class Mismatch:
    key: str
    expected: str
    seen: str
    detail: str = ""

    def render(self) -> str:
        return (f"{self.key}: expected {self.expected}, saw {self.seen}"
                + (f"\n    {self.detail}" if self.detail else ""))


def _meets(expectation: Expectation, status: str, rule: str | None,
           failing: tuple[str, ...]) -> bool:
    if expectation.status != status:
        return False
    if expectation.rule is not None and expectation.rule != rule:
        return False
    return expectation.failing is None or tuple(sorted(expectation.failing)) == failing


def _plugin_api(matrix: Matrix, res: CellResult) -> str | None:
    for info in matrix.plugins:
        if info.get("id") == res.cell.plugin and info.get("api_version"):
            return str(info["api_version"])
    api = res.plugin.get("api_version")
    return str(api) if api else None


def expected_chain(api: str, core: str, window: int) -> tuple[str, ...] | None:
    """The shim chain SPEC 1 gives a plugin of ``api`` on ``core`` with ``window``."""
    try:
        decision = decide(api, core, window=window)
    except ValueError:
        return None
    return tuple(decision.chain) if decision.kind == "shim" else None


def _shim_proof(matrix: Matrix, res: CellResult) -> str | None:
    """Why a ``shimmed`` cell does not prove its chain, or None when it does.

    Why stricter than the status: a cell counts as ``shimmed`` when every
    check it ran passed, so one whose ``shim-equivalence`` was skipped (or
    missing from its report), or whose chain is not the one SPEC 1 gives,
    would still count, and the matrix would claim a shim it never compared.
    """
    if res.shim_check != "passed":
        return (f"shim-equivalence {res.shim_check or 'is missing from the report'}: the "
                "chain was never compared against the native run")
    api = _plugin_api(matrix, res)
    want = expected_chain(api, res.cell.core, res.cell.window) if api else None
    if want is None:
        return (f"SPEC 1 gives no shim chain for API {api or '(unknown)'} on core "
                f"{res.cell.core} with window {res.cell.window}")
    if tuple(res.chain) != want:
        return f"chain {'->'.join(res.chain) or '(none)'}, SPEC 1 gives {'->'.join(want)}"
    return None


def check_expectations(mlist: MatrixList, matrix: Matrix,
                       keys: Iterable[str] | None = None) -> list[Mismatch]:
    """Every selected cell against its ``expect`` entry; a cell without one is a mismatch.

    A ``shimmed`` expectation also needs ``shim-equivalence`` passed on the
    chain SPEC 1 gives (:func:`_shim_proof`).
    """
    wanted = list(keys) if keys is not None else [c.key for c in mlist.cells()]
    out = []
    for key in wanted:
        plugin_id, _, column = key.partition("@")
        expectation = mlist.plugin(plugin_id).expect.get(column)
        res = matrix.results.get(key)
        if expectation is None:
            out.append(Mismatch(key, "an entry in the list's expect table",
                                res.label() if res else "not run",
                                f"add \"{column}\" = \"...\" to plugin {plugin_id!r}'s expect"))
        elif res is None:
            out.append(Mismatch(key, expectation.text(), "the cell was not run"))
        elif not _meets(expectation, res.status, res.rule, res.failing):
            detail = res.reason.splitlines()[0] if res.reason else ""
            if res.status == "fail":
                detail = "; ".join(f"{k}: {v.splitlines()[0] if v else ''}"[:200]
                                   for k, v in res.failures.items())
            out.append(Mismatch(key, expectation.text(), res.label(), detail))
        elif expectation.status == "shimmed":
            why = _shim_proof(matrix, res)
            if why is not None:
                out.append(Mismatch(key, "shimmed, proven by shim-equivalence on SPEC 1's "
                                    "chain", res.label(), why))
    return out


# -- suggestions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    """What the manifest should declare, given what was measured."""

    plugin: str
    declared_api: str | None
    declared_core: str | None
    native: tuple[str, ...]
    shimmed: tuple[str, ...]
    failing: tuple[str, ...]
    refused: tuple[str, ...]
    api_version: str | None
    core_version: str | None
    notes: tuple[str, ...] = ()
    #: Cores that serve it only with a shim window wider than the matrix's, as
    #: ``(core, window)``: not normal support (a default host refuses it there).
    widened: tuple[tuple[str, int], ...] = ()

    @property
    def shimmed_labels(self) -> list[str]:
        """``shimmed`` cores, then the widened ones marked ``(only with shim window N)``."""
        return [*self.shimmed,
                *(f"{core} (only with shim window {w})" for core, w in self.widened)]

    @property
    def matches_declared(self) -> bool:
        if self.api_version != self.declared_api or self.core_version is None:
            return False
        try:
            return self.declared_core is not None and \
                SpecifierSet(self.declared_core) == SpecifierSet(self.core_version)
        except InvalidSpecifier:
            return False

    def to_json(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "declared": {"api_version": self.declared_api,
                                                    "core_version": self.declared_core},
                "native": list(self.native), "shimmed": list(self.shimmed),
                "shimmed_only_with_window": [{"core": c, "shim_window": w}
                                             for c, w in self.widened],
                "failing": list(self.failing), "refused": list(self.refused),
                "suggested": {"api_version": self.api_version,
                              "core_version": self.core_version},
                "matches_declared": self.matches_declared, "notes": list(self.notes)}


def _api_of(core: str) -> str:
    return "{}.{}".format(*parse_api(core))


def _widened_notes(widened: list[CellResult], default: list[CellResult],
                   base: int) -> tuple[list[tuple[str, int]], list[str]]:
    """Cells run with a wider shim window than the matrix's, kept apart from the rest.

    Why apart: a window wider than SPEC 1's guaranteed one is a host's
    configuration, not the plugin's support; merged in, a 1.0 plugin that
    core 1.2 serves only with window 2 looked supported on 1.2.
    """
    works: list[tuple[str, int]] = []
    notes: list[str] = []
    for res in widened:
        at_default = next((r for r in default if r.cell.core == res.cell.core), None)
        if at_default is None:
            default_text = f"the default window {base} was not measured there"
        elif at_default.status == "skipped":
            default_text = f"with the default window {base} it refuses it ({at_default.rule})"
        else:
            default_text = f"with the default window {base}: {at_default.label()}"
        if res.works:
            works.append((res.cell.core, res.cell.window))
            notes.append(f"core {res.cell.core} serves it only with shim window "
                         f"{res.cell.window} ({res.label()}); {default_text}")
        elif res.status in ("fail", "error"):
            notes.append(f"core {res.cell.core} with shim window {res.cell.window}: "
                         f"{res.label()}; {default_text}")
    return works, notes


def suggest(matrix: Matrix) -> list[Suggestion]:
    """Per plugin: the cores it works on (natively, through shims) and the manifest to match.

    Only cells with the matrix's shim window count as support; cells with a
    widened window are reported beside it (:func:`_widened_notes`).
    """
    out = []
    base_window = matrix.shim_window
    for info in matrix.plugins:
        pid = str(info.get("id"))
        every = [r for r in matrix.results.values() if r.cell.plugin == pid]
        cells = [r for r in every if r.cell.window == base_window]
        if not cells:
            continue
        widened, widened_notes = _widened_notes(
            [r for r in every if r.cell.window != base_window], cells, base_window)
        declared_api = info.get("api_version") or next(
            (r.plugin.get("api_version") for r in cells if r.plugin.get("api_version")), None)
        cores = sorted({r.cell.core for r in cells}, key=Version)
        by_core = {c: [r for r in cells if r.cell.core == c] for c in cores}
        native = tuple(c for c in cores if any(r.status == "pass" for r in by_core[c]))
        shimmed = tuple(c for c in cores if c not in native
                        and any(r.status == "shimmed" for r in by_core[c]))
        works = [c for c in cores if c in native or c in shimmed]
        failing = tuple(c for c in cores if c not in works
                        and any(r.status in ("fail", "error") for r in by_core[c]))
        refused = tuple(c for c in cores if all(r.status == "skipped" for r in by_core[c]))
        notes: list[str] = []
        api: str | None = None
        spec: str | None = None
        if not works:
            rules = sorted({str(r.rule) for r in cells if r.status == "skipped"})
            notes.append("works on no measured core"
                         + (f" (refused: {', '.join(rules)})" if rules else "")
                         + ": nothing to suggest until it runs somewhere")
        else:
            native_core = next((c for c in cores if declared_api and _api_of(c) == declared_api),
                               None)
            if declared_api and native_core in native:
                api = str(declared_api)
            elif native_core is None:
                api = str(declared_api) if declared_api else None
                notes.append(f"its own core (API {declared_api}) was not measured")
            else:
                notes.append(f"fails natively on core {native_core}: fix that before "
                             "declaring anything")
            low = works[0]
            above = [c for c in failing if Version(c) > Version(low)]
            major = parse_api(low)[0]
            high = f"<{_api_of(above[0])}" if above else f"<{major + 1}"
            spec = f">={_api_of(low)},{high}"
            later = [c for c in works if above and Version(c) > Version(above[0])]
            if later:
                notes.append(f"also works on {', '.join(later)}, above the failure on "
                             f"{above[0]}")
            declared_core = info.get("core_version")
            if declared_core:
                try:
                    contained = [c for c in failing if SpecifierSet(str(declared_core))
                                 .contains(c, prereleases=True)]
                except InvalidSpecifier:
                    contained = []
                if contained:
                    notes.append(f"the declared core_version {declared_core!r} admits core(s) "
                                 f"{', '.join(contained)}, where it fails")
        out.append(Suggestion(pid, str(declared_api) if declared_api else None,
                              info.get("core_version"), native, shimmed, failing, refused,
                              api, spec, tuple(notes + widened_notes), tuple(widened)))
    return out
