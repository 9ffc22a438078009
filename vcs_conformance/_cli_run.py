"""``vcs-conformance run PLUGIN HOOK ...``: drive the reference host by hand.

Why: a plugin author debugging one hook wants to call it exactly as the
core would (same worker, shims, validation and error messages) without
writing a test.  The result is printed as JSON on stdout; progress goes to
stderr (a live bar on a terminal); an error prints its code and message and
exits 1 (2 for a usage mistake).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, TextIO

from ._api import CURRENT_CORE, DEFAULT_SHIM_WINDOW, KNOWN_HOOKS
from ._worker import FrameError, decode_payload
from .errors import VCSCompatibilityWarning, VCSError

__all__ = ["register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake on the command line (exit 2), not a verdict about the plugin."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand; its handler is ``args.func(args) -> int``."""
    run = subparsers.add_parser(
        "run", help="call one hook of a plugin through the reference host",
        description="Call one hook the way the core would: in a worker process, through the "
        "shim chain when the plugin targets an older API, with the result validated. "
        "Examples: run PLUGIN synthesize 'Hello' --voice-config '{\"rate\": 1.2}' --out "
        "hello.wav; run PLUGIN preprocess DATASET_DIR; run PLUGIN train DATASET.json. "
        "Exit 0 on success, 1 when the plugin fails (the error's code and message are "
        "printed), 2 on a usage error.")
    run.add_argument("plugin", metavar="PLUGIN",
                     help="project directory, wheel, sdist, or installed distribution / "
                     "entry point name")
    run.add_argument("hook", metavar="HOOK", choices=KNOWN_HOOKS,
                     help=f"one of {', '.join(KNOWN_HOOKS)}")
    run.add_argument("args", nargs="*", metavar="ARG",
                     help="synthesize: TEXT; preprocess: DATASET_DIR (a workspace path or a "
                     "directory, copied into the workspace); train: DATASET.json; init: "
                     "CONFIG_JSON")
    run.add_argument("--voice-config", default="{}", metavar="JSON",
                     help="synthesize's voice_config, in the core's API (default {})")
    run.add_argument("--config", metavar="JSON",
                     help="call init(CONFIG) first (without it, init({}) is called when the "
                     "manifest has no config_schema)")
    run.add_argument("--out", type=Path, metavar="FILE",
                     help="synthesize: copy the WAV it produced to FILE")
    run.add_argument("--core-version", default=CURRENT_CORE,
                     help=f"core version the host emulates (default {CURRENT_CORE})")
    run.add_argument("--shim-window", type=int, default=DEFAULT_SHIM_WINDOW,
                     help="how many minor API versions back the host shims (default 1)")
    run.add_argument("--workspace", type=Path, metavar="DIR",
                     help="project workspace (created if missing; default: a temporary one, "
                     "removed afterwards)")
    run.add_argument("--sandbox", choices=("auto", "strict", "basic", "off"), default="auto",
                     help="sandbox level of the worker (default auto: the strongest available)")
    run.add_argument("--env", choices=("isolated", "current"), default="isolated",
                     help="isolated: the plugin's cached virtualenv with exactly its locked "
                     "dependencies (default); current: this interpreter")
    run.set_defaults(func=run_command)


def _json_arg(text: str, what: str) -> Any:
    try:
        return decode_payload(text.encode("utf-8"))
    except FrameError as exc:
        raise UsageError(f"{what} is not strict JSON: {exc}") from None


def _dataset_dir(ws: Any, raw: str) -> str:
    """A workspace path as is; any other directory is copied to ``datasets/<name>``."""
    if (ws.root / raw).is_dir() and not Path(raw).is_absolute():
        return raw
    source = Path(raw)
    if not source.is_dir():
        raise UsageError(f"dataset directory {raw!r} does not exist (neither in the workspace "
                         "nor on disk)")
    rel = f"datasets/{source.resolve().name}"
    target = ws.root / rel
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return rel


class _Progress:
    """A one-line bar on a terminal, plain lines otherwise (both on stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.drawn = False

    def __call__(self, percent: float, status: str = "running") -> None:
        if self.tty:
            filled = int(percent / 100 * 30)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}% "
                              f"{status[:60]:<60}")
            self.drawn = True
        else:
            self.stream.write(f"progress {percent:.1f}% {status}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _call(plugin: Any, host: Any, args: argparse.Namespace) -> Any:
    hook, extra = args.hook, list(args.args)
    wanted = {"synthesize": "TEXT", "preprocess": "DATASET_DIR", "train": "DATASET.json",
              "init": "CONFIG_JSON"}[hook]
    if hook == "init" and not extra:
        extra = [args.config or "{}"]
    if len(extra) != 1:
        raise UsageError(f"{hook} takes one argument, {wanted}; got {len(extra)}")
    if hook not in plugin.hooks:
        raise UsageError(f"plugin {plugin.name} provides no {hook!r} hook (it provides: "
                         f"{', '.join(plugin.hooks)})")
    if hook != "init" and "init" in plugin.hooks and \
            (args.config is not None or plugin.manifest.config_schema is None):
        plugin.init(_json_arg(args.config or "{}", "--config"))
    if hook == "synthesize":
        result = plugin.synthesize(extra[0], _json_arg(args.voice_config, "--voice-config"))
        if args.out is not None:
            audio = result if isinstance(result, str) else result["audio"]
            shutil.copyfile(host.workspace.root / audio, args.out)
        return result
    if hook == "preprocess":
        return plugin.preprocess(_dataset_dir(host.workspace, extra[0]))
    if hook == "train":
        try:
            text = Path(extra[0]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {extra[0]}: {exc}") from None
        bar = _Progress(sys.stderr)
        try:
            return plugin.train(_json_arg(text, extra[0]), on_progress=bar)
        finally:
            bar.done()
    return plugin.init(_json_arg(extra[0], "CONFIG_JSON"))


def run_command(args: argparse.Namespace) -> int:
    """The ``run`` subcommand; returns the exit code."""
    from .host import PluginHost  # the host's imports only when the command runs

    temp = None
    workspace = args.workspace
    if workspace is None:
        temp = tempfile.mkdtemp(prefix="vcs-run-")
        workspace = Path(temp)
    try:
        with warnings.catch_warnings():
            # IncompatiblePlugin says the same, as an error with its code.
            warnings.simplefilter("ignore", VCSCompatibilityWarning)
            from .sandbox import make_launcher

            provider = None
            if args.env == "isolated":
                from .envs import IsolatedEnvProvider

                provider = IsolatedEnvProvider()
            with PluginHost(core_version=args.core_version, workspace=workspace,
                            shim_window=args.shim_window,
                            launcher=make_launcher(args.sandbox),
                            env_provider=provider) as host:
                plugin = host.load(args.plugin)
                result = _call(plugin, host, args)
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    except UsageError as exc:
        print(f"vcs-conformance run: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VCSError as exc:
        print(f"error: {exc.story()}", file=sys.stderr)
        tail = exc.details.get("log_tail")
        if tail and "last output" not in exc.story():
            print("  last output of the plugin:\n" + "\n".join(
                "    " + line for line in str(tail).rstrip().splitlines()[-20:]),
                file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # e.g. a core version that is not a version
        print(f"vcs-conformance run: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
