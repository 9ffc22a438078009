"""``vcs-conformance``: the command line of the kit.

Subcommands live in their own modules and register themselves on the
parser, so this file stays a dispatcher.  Exit codes are stable: 0 valid,
1 invalid (a verdict about the plugin), 2 usage or unreadable input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ManifestError, Problem
from .manifest import check_identity, load_manifest_source

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

#: Modules that add subcommands with ``register(subparsers)``.
_SUBCOMMAND_MODULES = ("_cli_run", "_cli_cache", "_cli_checks", "_cli_replay", "_cli_matrix")


def _validate(args: argparse.Namespace) -> int:
    results = []
    worst = EXIT_OK
    for raw in args.paths:
        problems: list[Problem]
        try:
            manifest, source = load_manifest_source(Path(raw))
            problems = []
            if source.dist_name and source.dist_version:
                problems = check_identity(manifest, source.dist_name, source.dist_version)
            status = "invalid" if problems else "valid"
            code = EXIT_INVALID if problems else EXIT_OK
            summary = {"name": manifest.name, "version": manifest.version,
                       "api_version": manifest.api_version}
        except ManifestError as exc:
            problems = exc.problems
            unreadable = bool(exc.details.get("unreadable"))
            status = "unreadable" if unreadable else "invalid"
            code = EXIT_USAGE if unreadable else EXIT_INVALID
            summary = {}
        worst = max(worst, code)
        results.append({"path": raw, "status": status, "manifest": summary,
                        "problems": [p.to_json() for p in problems]})
        if args.format == "text":
            for p in problems:
                print(p.render(), file=sys.stdout)
            if not problems:
                print(f"{raw}: ok: {summary['name']} {summary['version']} "
                      f"(API {summary['api_version']})")
    if args.format == "json":
        json.dump({"results": results, "exit_code": worst}, sys.stdout, indent=2)
        print()
    elif len(args.paths) > 1 or worst:
        bad = sum(1 for r in results if r["status"] != "valid")
        print(f"{len(results)} checked, {bad} with problems", file=sys.stderr)
    return worst


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcs-conformance",
        description="Conformance and compatibility kit for Voice Creator Studio plugins.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    val = sub.add_parser("validate", help="validate plugin manifests",
                         description="Validate vcs_plugin.yaml files: a manifest file, a package "
                         "directory, a project directory or a built wheel. Exit 0 valid, "
                         "1 invalid, 2 usage error or unreadable input.")
    val.add_argument("paths", nargs="+", metavar="PATH")
    val.add_argument("--format", choices=("text", "json"), default="text")
    val.set_defaults(func=_validate)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"vcs_conformance.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vcs_conformance.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, usage errors are 2
        return int(exc.code or 0)
    result = args.func(args)
    return int(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
