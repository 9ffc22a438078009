"""``vcs-conformance replay BUNDLE``: rerun a failing check's call from a CI artefact."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._checks._outcome import CheckFailed
from .errors import VCSError


def _run(args: argparse.Namespace) -> int:
    from ._checks._replay import BundleError, load_bundle, replay, settings_for
    from ._checks._runner import PluginRun
    from ._checks._settings import OPTIONS, Settings

    path = Path(args.bundle)
    try:
        bundle = load_bundle(path)
    except BundleError as exc:
        print(f"vcs-conformance replay: {exc}", file=sys.stderr)
        return 2
    defaults = {o.name: o.default for o in OPTIONS}
    base = Settings(plugins=(), core_version=defaults["core_version"], shim_window=1,
                    sandbox=args.sandbox or "auto", env="isolated", profile="ci",
                    examples={"default": 1}, install_system_deps=False, report=None,
                    strict_compat=False, expect=None, update_expect=False, suite="1.0",
                    min_checks=0, replay=path, repro_dir=Path(tempfile.mkdtemp()),
                    offline=False, find_links=())
    settings = settings_for(bundle, base)
    if args.sandbox:
        settings = settings.__class__(**{**settings.__dict__, "sandbox": args.sandbox})
    with tempfile.TemporaryDirectory(prefix="vcs-replay-") as tmp:
        run = PluginRun(str(bundle["plugin"]), settings, _Factory(Path(tmp)),
                        rootdir=Path.cwd())
        try:
            print(replay(path, run))
            return 0
        except CheckFailed as exc:
            print(f"[{bundle['check']}] {run.name}: still failing\n{exc.render()}")
            return 1
        except VCSError as exc:
            print(exc.story(), file=sys.stderr)
            return 1
        finally:
            run.close()


class _Factory:
    """The two ``TempPathFactory`` methods the runner uses, outside pytest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        self.n += 1
        path = self.root / f"{basename}{self.n if numbered else ''}"
        path.mkdir(parents=True)
        return path

    def getbasetemp(self) -> Path:
        return self.root


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="rerun the call of a replay bundle",
        description="Rerun exactly the call a failing check recorded "
                    "(vcs-repro/<plugin>/<check>.json), in the same kind of sandbox, and give "
                    "the same verdict. Exit 0 when it now passes, 1 when it still fails, "
                    "2 for an unusable bundle.")
    parser.add_argument("bundle", metavar="BUNDLE")
    parser.add_argument("--sandbox", choices=("auto", "strict", "basic", "off"),
                        help="override the bundle's sandbox level (e.g. off, to debug)")
    parser.set_defaults(func=_run)
