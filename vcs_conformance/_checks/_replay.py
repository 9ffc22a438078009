"""Replay bundles: rerun exactly the call a failing check recorded.

A bundle (``vcs-repro/<plugin>/<check>.json``) holds the call's hook and
arguments, the versions, shim chain and sandbox level, and a copy of the
dataset the call used.  Replaying loads the plugin the same way, restores
the dataset into a fresh workspace, makes the call and judges it by the
check's rule (an ``-invalid`` check wants ``ValueError``, the rest want a
valid result), so the verdict is the same at home as in CI.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._catalogue import BY_ID
from ._outcome import CheckFailed

REQUIRED = ("plugin", "check", "hook", "args", "core_version")


class BundleError(ValueError):
    """A replay bundle that cannot be used; names the file and the problem."""


def load_bundle(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the replay bundle: {exc.strerror or exc}") \
            from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: not a JSON replay bundle: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: a replay bundle is a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    if data["check"] not in BY_ID:
        raise BundleError(f"{path}: unknown check id {data['check']!r}")
    if not isinstance(data["args"], list):
        raise BundleError(f"{path}: 'args' must be a list")
    return data


def replay(bundle_path: Path, run: Any) -> str:
    """Rerun the bundle's call on ``run`` (a PluginRun); returns a one-line verdict.

    Raises ``CheckFailed`` when the call still breaks the check's rule.
    """
    bundle = load_bundle(bundle_path)
    data_dir = bundle.get("data_dir")
    for rel in bundle.get("datasets") or []:
        src = bundle_path.parent / str(data_dir) / rel
        dst = run.workspace.root / rel
        if src.is_dir() and not dst.exists():
            shutil.copytree(src, dst)
    hook, args, check = bundle["hook"], bundle["args"], bundle["check"]
    if check == "shim-equivalence":
        from ._shimcheck import compare

        native_args = bundle.get("native_args")
        if not isinstance(native_args, list):
            raise BundleError(f"{bundle_path}: a shim-equivalence bundle needs 'native_args'")
        compare(run, run.native_plugin(), run.plugin(), hook, native_args, args)
        return f"{check}: native and shimmed {hook} agree now"
    events: list[tuple[float, str]] = []
    kw: dict[str, Any] = {}
    if hook == "train":
        kw["on_progress"] = lambda p, s="running": events.append((p, s))
    verdict, value = run.call(hook, *args, **kw)
    if check.endswith("-invalid") or (check == "init-config" and bundle.get("expect_reject")):
        if verdict == "ok":
            raise CheckFailed(f"{hook} to raise ValueError for invalid input",
                              f"it returned {value!r}", example=args, hook=hook)
        return f"{check}: {hook} raised ValueError as it should: {value.message}"
    if verdict != "ok":
        raise CheckFailed(f"{hook} to accept valid input", f"ValueError: {value.message}",
                          example=args, hook=hook)
    if check == "train-progress":
        from ._checks_impl import _check_progress

        _check_progress(events, finished=True, example=args, run=run)
    return f"{check}: {hook} returned a valid result"


def settings_for(bundle: dict[str, Any], base: Any) -> Any:
    """The pytest settings of the original run, as far as the bundle records them."""
    return replace(base, core_version=str(bundle["core_version"]),
                   shim_window=int(bundle.get("shim_window") or base.shim_window),
                   sandbox=str(bundle.get("sandbox") or base.sandbox),
                   env=str(bundle.get("env") or base.env),
                   plugins=(str(bundle["plugin"]),))
