"""``vcs-conformance matrix plan|run|merge|expect`` and ``vcs-conformance gate``.

``plan`` prints the cells as a CI job matrix (so gating scales past one
machine on the CI's own runners), ``run`` runs cells in parallel and writes
the artefacts, ``merge`` joins the partial results of fanned-out jobs,
``expect`` asserts cells against the list's expect table, and ``gate``
compares a run with a committed baseline.  Exit codes as everywhere in the
kit: 0 ok, 1 a verdict (a regression, an unmet expectation), 2 a usage
error or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import MatrixConfigError

EXIT_OK, EXIT_VERDICT, EXIT_USAGE = 0, 1, 2


def _progress(total: int) -> Any:
    lock = threading.Lock()
    done = [0]

    def report(result: Any) -> None:
        with lock:
            done[0] += 1
            print(f"[{done[0]}/{total}] {result.cell.key}: {result.label()} "
                  f"({result.seconds:.1f} s)", file=sys.stderr, flush=True)
    return report


def _run_cells(args: argparse.Namespace, mlist: Any) -> Any:
    from ._matrix import run_matrix
    from ._matrix_list import check_named_plugins

    cells = mlist.select(args.cell) if args.cell else mlist.cells()
    check_named_plugins(mlist, cells, pytest_args=args.pytest_arg or ())
    print(f"vcs-conformance matrix: {len(cells)} cell(s) of {mlist.path}, "
          f"{args.jobs or 'all CPUs'} at a time, results in {args.out}", file=sys.stderr)
    return run_matrix(mlist, args.out, cells=cells, jobs=args.jobs, timeout=args.timeout,
                      pytest_args=args.pytest_arg or (), on_result=_progress(len(cells)))


def _write(out: Path, matrix: Any, comparison: Any = None) -> None:
    from ._matrix_render import write_artefacts
    from ._matrix_verdicts import suggest

    paths = write_artefacts(out, matrix, suggest(matrix), comparison)
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)


def _print_table(matrix: Any) -> None:
    for res in matrix.results.values():
        print(f"{res.cell.key}: {res.label()}")


def _plan(args: argparse.Namespace) -> int:
    from ._matrix_list import load_list
    from ._matrix_render import fanout

    mlist = load_list(args.list)
    doc = fanout(mlist, mlist.select(args.cell) if args.cell else None)
    text = json.dumps(doc, separators=(",", ":"))
    if args.github_output:
        with open(args.github_output, "a", encoding="utf-8") as fh:
            fh.write(f"matrix={text}\n")
    print(text)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from ._matrix_list import load_list
    from ._matrix_verdicts import check_expectations

    mlist = load_list(args.list)
    if args.verdicts:
        _check_writable(Path(args.verdicts))  # before the cells run, not after
    matrix = _run_cells(args, mlist)
    _write(Path(args.out), matrix)
    _print_table(matrix)
    if args.verdicts:
        _write_verdicts(Path(args.verdicts), mlist, matrix)
    if args.expect:
        mismatches = check_expectations(mlist, matrix, matrix.results.keys())
        for m in mismatches:
            print("UNEXPECTED " + m.render())
        if mismatches:
            return EXIT_VERDICT
        print(f"all {len(matrix.results)} cell(s) as expected")
    return EXIT_OK


def _check_writable(path: Path) -> None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if path.is_dir() or not os.access(parent, os.W_OK) \
            or (path.exists() and not os.access(path, os.W_OK)):
        raise MatrixConfigError(f"--verdicts {path}: cannot write a file there")


def _write_verdicts(path: Path, mlist: Any, matrix: Any) -> None:
    """Each run cell against the expect table, as ``{key: {"ok", "line"}}``.

    Why a file: the ``conformance`` nox sessions measure their cells in one
    parallel batch, then each asserts its own cell; reading this JSON (with
    the standard library, in nox's interpreter) costs nothing, where a
    ``matrix expect`` process per cell cost a Python start and a kit import.
    """
    from ._matrix_verdicts import check_expectations

    mismatches = {m.key: m for m in check_expectations(mlist, matrix, matrix.results.keys())}
    doc = {key: ({"ok": False, "line": "UNEXPECTED " + mismatches[key].render()}
                 if key in mismatches else {"ok": True, "line": f"{key}: {res.label()} "
                                                                "(as expected)"})
           for key, res in matrix.results.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _merge(args: argparse.Namespace) -> int:
    from ._matrix import load_results, merge_matrices

    matrix = merge_matrices([load_results(p) for p in args.results])
    _write(Path(args.out), matrix)
    _print_table(matrix)
    return EXIT_OK


def _expect(args: argparse.Namespace) -> int:
    from ._matrix import load_results
    from ._matrix_list import load_list
    from ._matrix_verdicts import check_expectations

    mlist = load_list(args.list)
    matrix = load_results(args.results)
    keys = [c.key for c in mlist.select(args.cell)] if args.cell else list(matrix.results)
    mismatches = check_expectations(mlist, matrix, keys)
    for key in keys:
        res = matrix.results.get(key)
        if res is not None and not any(m.key == key for m in mismatches):
            print(f"{key}: {res.label()} (as expected)")
    for m in mismatches:
        print("UNEXPECTED " + m.render())
    return EXIT_VERDICT if mismatches else EXIT_OK


def _judge_only_listed(mlist: Any, matrix: Any, source: str) -> Any:
    """The list's cells from merged results; a listed cell without a result is an error.

    A fanned-out CI job that died before uploading its part must not vanish
    from the gate: its cell counts as broken, which blocks if it ran before.
    """
    from ._matrix import CellResult

    results = {}
    for cell in mlist.cells():
        found = matrix.results.get(cell.key)
        results[cell.key] = found if found is not None else CellResult(
            cell, "error", reason=f"no result for this cell in {source}")
    matrix.results = results
    matrix.columns = mlist.columns()
    listed = {e.id for e in mlist.plugins}
    matrix.plugins = [p for p in matrix.plugins if p.get("id") in listed]
    return matrix


def _gate(args: argparse.Namespace) -> int:
    from ._matrix import load_results
    from ._matrix_list import load_list
    from ._matrix_verdicts import compare, load_baseline, write_baseline

    mlist = load_list(args.list)
    matrix = (_judge_only_listed(mlist, load_results(args.results), args.results)
              if args.results else _run_cells(args, mlist))
    if args.update_baseline:
        path = write_baseline(args.baseline, matrix)
        _write(Path(args.out), matrix)
        _print_table(matrix)
        print(f"baseline updated: {path} ({len(matrix.results)} cells); review and commit it")
        return EXIT_OK
    comparison = compare(matrix, load_baseline(args.baseline), str(args.baseline))
    _write(Path(args.out), matrix, comparison)
    _print_table(matrix)
    for line in comparison.summary_lines():
        print(line)
    if comparison.blocking:
        print(f"gate: {len(comparison.blocking)} cell(s) worse than {args.baseline}; fix them, "
              "or accept the change on purpose with --update-baseline")
        return EXIT_VERDICT
    print("gate: no cell is worse than the baseline")
    return EXIT_OK


def _run_options(p: argparse.ArgumentParser, *, out_default: str) -> None:
    p.add_argument("--cell", action="append", metavar="KEY",
                   help="run only this cell, plugin@core[+wN] (repeatable)")
    p.add_argument("--out", default=out_default, metavar="DIR",
                   help=f"where the artefacts and per-cell reports go (default {out_default})")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="cells at once (default: the CPUs this process may use)")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="kill a cell after this long and report it as error (default 1800)")
    p.add_argument("--pytest-arg", action="append", metavar="ARG",
                   help="extra pytest argument for every cell, e.g. "
                   "--pytest-arg=--vcs-profile=quick (repeatable)")


def register(subparsers: Any) -> None:
    """Add ``matrix`` and ``gate`` to the ``vcs-conformance`` parser."""
    matrix = subparsers.add_parser(
        "matrix", help="run plugins across every emulated core",
        description="The compatibility matrix: every plugin of a TOML list on every core, "
        "each cell one pytest run, cells in parallel.")
    sub = matrix.add_subparsers(dest="matrix_command", required=True, metavar="ACTION")

    plan = sub.add_parser("plan", help="print the cells as a CI job matrix ({\"include\": ...})")
    plan.add_argument("list", metavar="LIST.toml")
    plan.add_argument("--cell", action="append", metavar="KEY")
    plan.add_argument("--github-output", metavar="FILE",
                      help="also append matrix=<json> to this file ($GITHUB_OUTPUT)")
    plan.set_defaults(func=_guard(_plan))

    run = sub.add_parser("run", help="run cells and write compat-matrix.json/.md/.html")
    run.add_argument("list", metavar="LIST.toml")
    _run_options(run, out_default="compat-matrix")
    run.add_argument("--expect", action="store_true",
                     help="exit 1 unless every cell run meets the list's expect table")
    run.add_argument("--verdicts", metavar="FILE",
                     help="write each cell's verdict against the expect table to this JSON "
                          "file (the exit code is unchanged)")
    run.set_defaults(func=_guard(_run))

    merge = sub.add_parser("merge", help="join partial compat-matrix.json files (CI fan-in)")
    merge.add_argument("results", nargs="+", metavar="RESULTS.json")
    merge.add_argument("--out", default="compat-matrix", metavar="DIR")
    merge.set_defaults(func=_guard(_merge))

    expect = sub.add_parser("expect", help="check results against the list's expect table")
    expect.add_argument("list", metavar="LIST.toml")
    expect.add_argument("--results", required=True, metavar="RESULTS.json")
    expect.add_argument("--cell", action="append", metavar="KEY")
    expect.set_defaults(func=_guard(_expect))

    gate = subparsers.add_parser(
        "gate", help="fail when a cell is worse than the committed baseline",
        description="Run a plugin list across every core and compare with a baseline: only "
        "new failures block; improvements are reported so the baseline can be raised.")
    gate.add_argument("list", metavar="LIST.toml")
    gate.add_argument("--baseline", required=True, metavar="FILE",
                      help="the committed baseline (JSON) to compare with")
    gate.add_argument("--update-baseline", action="store_true",
                      help="accept this run as the new baseline (on purpose)")
    gate.add_argument("--results", metavar="RESULTS.json",
                      help="judge these results (e.g. merged from CI jobs) instead of running")
    _run_options(gate, out_default="compat-matrix")
    gate.set_defaults(func=_guard(_gate))


def _guard(func: Any) -> Any:
    """User mistakes (a bad list, a missing baseline) are one clear message and exit 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except MatrixConfigError as exc:
            print(f"vcs-conformance: {exc.story()}", file=sys.stderr)
            return EXIT_USAGE
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vcs_conformance._cli_matrix``: the same commands before the CLI wires them."""
    parser = argparse.ArgumentParser(prog="vcs-conformance")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
