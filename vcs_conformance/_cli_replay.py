"""``vcs-conformance replay BUNDLE``: rerun a failing check's call from a CI artefact."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from ._checks._outcome import CheckFailed
from ._checks._replay import VCSReplayDriftWarning
from .errors import SandboxUnavailable, VCSError


def _run(args: argparse.Namespace) -> int:
    from ._checks._replay import BundleError, check_plugin, load_bundle, replay, settings_for
    from ._checks._runner import PluginRun
    from ._checks._settings import OPTIONS, Settings

    path = Path(args.bundle)
    try:
        bundle = load_bundle(path)
        check_plugin(args.plugin or str(bundle["plugin"]))
    except BundleError as exc:
        print(f"vcs-conformance replay: error: {exc}", file=sys.stderr)
        return 2
    defaults = {o.name: o.default for o in OPTIONS}
    base = Settings(plugins=(), core_version=defaults["core_version"], shim_window=1,
                    sandbox="auto", env="isolated", profile="ci",
                    examples={"default": 1}, install_system_deps=False, report=None,
                    strict_compat=False, expect=None, update_expect=False, suite="1.0",
                    min_checks=0, replay=path, repro_dir=Path(tempfile.mkdtemp()),
                    offline=False, find_links=())
    settings = settings_for(bundle, base, args.plugin)
    if args.sandbox:
        settings = replace(settings, sandbox=args.sandbox)
    with tempfile.TemporaryDirectory(prefix="vcs-replay-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("always", VCSReplayDriftWarning)
        warnings.showwarning = _show_warning
        run = PluginRun(settings.plugins[0], settings, _Factory(Path(tmp)),
                        rootdir=Path.cwd())
        try:
            print(replay(path, run, bundle))
            return 0
        except CheckFailed as exc:
            print(f"[{bundle['check']}] {run.name}: still failing\n{exc.render()}")
            return 1
        except BundleError as exc:
            print(f"vcs-conformance replay: error: {exc}", file=sys.stderr)
            return 2
        except SandboxUnavailable as exc:  # this machine, not the plugin: a usage matter
            print(f"vcs-conformance replay: error: the bundle's sandbox level "
                  f"{settings.sandbox!r} is not available here ({exc.message}); pass "
                  "--sandbox basic or --sandbox off to replay at a weaker level",
                  file=sys.stderr)
            return 2
        except VCSError as exc:
            print(exc.story(), file=sys.stderr)
            return 1
        finally:
            run.close()
            shutil.rmtree(settings.repro_dir, ignore_errors=True)


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one plain line on stderr (no source line: the user did nothing wrong)."""
    print(f"vcs-conformance replay: warning: {message}", file=sys.stderr)


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
                    "the same verdict, judged by the check's own rule. Exit 0 when it now "
                    "passes, 1 when it still fails, 2 for an unusable bundle or a plugin "
                    "that is not there.")
    parser.add_argument("bundle", metavar="BUNDLE")
    parser.add_argument("--plugin", metavar="PATH",
                        help="the plugin to replay on instead of the bundle's (a CI bundle "
                        "names the CI machine's path): project dir, wheel, sdist or installed "
                        "name; a warning says when its manifest or lock differs")
    parser.add_argument("--sandbox", choices=("auto", "strict", "basic", "off"),
                        help="override the bundle's sandbox level (e.g. off, to debug)")
    parser.set_defaults(func=_run)
