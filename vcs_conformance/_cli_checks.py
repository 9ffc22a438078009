"""``vcs-conformance checks``: the catalogue with suite versions and descriptions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._checks._catalogue import CATALOGUE, CURRENT_SUITE, checks_for_suite


def _run(args: argparse.Namespace) -> int:
    try:
        rows = checks_for_suite(args.suite)
    except ValueError as exc:
        print(f"vcs-conformance checks: {exc}")
        return 2
    if args.format == "json":
        print(json.dumps([{"id": c.id, "area": c.area, "suite": c.suite, "binding": binding,
                           "hook": c.hook, "needs": list(c.needs), "description": c.description}
                          for c, binding in rows], indent=2))
        return 0
    width = max(len(c.id) for c in CATALOGUE)
    for spec, binding in rows:
        flag = "" if binding else f"  (newer than suite {args.suite}: warning only)"
        print(f"{spec.id:<{width}}  suite {spec.suite}  {spec.description}{flag}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "checks", help="list the check catalogue",
        description="List the check catalogue of SPEC section 7: stable ids, the suite version "
                    "that introduced each, and what it checks.")
    parser.add_argument("--suite", default=CURRENT_SUITE,
                        help=f"mark checks newer than this suite (default {CURRENT_SUITE})")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=_run)
