"""``vcs-conformance cache list|prune``: see and trim the isolated-env cache.

Why a command: envs are keyed by content, so every lock or wheel change adds
one; CI caches and laptops need a way to see what is there and to drop what
has not been used for a while (``--older-than 30d``) without racing a
running test session (entries in use are skipped, see ``envs.prune``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``45m``, ``12h``, ``30d``, ``2w``; a bare number means days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number with s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


def _cache_dir(args: argparse.Namespace) -> Path:
    from .envs import default_cache_dir

    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def _list(args: argparse.Namespace) -> int:
    from .envs import list_entries

    cache = _cache_dir(args)
    entries = list_entries(cache)
    if args.format == "json":
        json.dump({"cache_dir": str(cache), "entries": [e.to_json() for e in entries]},
                  sys.stdout, indent=2)
        print()
        return 0
    now = time.time()
    print(f"cache: {cache}")
    if not entries:
        print("no environments")
        return 0
    for e in entries:
        label = f"{e.dist_name} {e.version}" if e.dist_name else "(incomplete build)"
        print(f"{e.key[:12]}  {label:<40} python {e.python or '?':<8} "
              f"{e.installer or '?':<3}  {_human(e.size_bytes):>10}  "
              f"used {_age(now - e.last_used)} ago")
    total = sum(e.size_bytes for e in entries)
    print(f"{len(entries)} environment{'s' if len(entries) != 1 else ''}, {_human(total)}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from .envs import prune

    cache = _cache_dir(args)
    removed = prune(cache, args.older_than)
    if args.format == "json":
        json.dump({"cache_dir": str(cache), "removed": [e.to_json() for e in removed]},
                  sys.stdout, indent=2)
        print()
        return 0
    for e in removed:
        label = f"{e.dist_name} {e.version}" if e.dist_name else "(incomplete build)"
        print(f"removed {e.key[:12]}  {label}  {_human(e.size_bytes)}")
    print(f"{len(removed)} environment{'s' if len(removed) != 1 else ''} removed, "
          f"{_human(sum(e.size_bytes for e in removed))} freed")
    return 0


def register(subparsers: Any) -> None:
    """Add ``cache list`` and ``cache prune`` to the ``vcs-conformance`` parser."""
    parser = subparsers.add_parser(
        "cache", help="list or prune cached plugin environments",
        description="The isolated plugin environments live in VCS_CONFORMANCE_CACHE_DIR "
                    "(default: the user cache dir). `list` shows them, `prune` removes those "
                    "not used for --older-than (all when not given); envs in use are kept.")
    sub = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", metavar="DIR",
                        help="cache directory (default: $VCS_CONFORMANCE_CACHE_DIR or the "
                             "user cache dir)")
    common.add_argument("--format", choices=("text", "json"), default="text")
    lst = sub.add_parser("list", parents=[common], help="list cached environments")
    lst.set_defaults(func=_list)
    prn = sub.add_parser("prune", parents=[common], help="remove cached environments")
    prn.add_argument("--older-than", type=parse_duration, metavar="AGE", default=None,
                     help="only those unused for AGE (90s, 45m, 12h, 30d, 2w; bare number: "
                          "days)")
    prn.set_defaults(func=_prune)
