"""Replay bundles: rerun exactly the call a failing check recorded, judge it the same way.

A bundle (``vcs-repro/<plugin>/<check>.json``, written by ``_bundle``) holds
the call's hook and arguments, the verdict rule it broke, the versions,
shim chain and sandbox level, fingerprints of the plugin, and a copy of the
workspace files the call used.  Replaying loads the plugin the same way,
restores those files into a fresh workspace, makes the call and judges it
with the *check's own* functions (``_must_accept``, ``_must_reject``,
``judge_preprocessed``, ``judge_hygiene``, ``_check_progress``), so the
verdict at home is the one CI gave, and a fixed plugin replays as a pass.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._api import KNOWN_HOOKS
from ..errors import VCSError
from ._bundle import copy_entry, fingerprint, rule_for
from ._catalogue import BY_ID
from ._outcome import CheckFailed

REQUIRED = ("plugin", "check", "hook", "args", "core_version")
EXPECTS = ("accept", "reject", "any")


class BundleError(ValueError):
    """A replay bundle that cannot be used; names the file and the problem."""


class VCSReplayDriftWarning(UserWarning):
    """The plugin replayed is not the one the bundle was written for (hashes differ)."""


def load_bundle(path: Path) -> dict[str, Any]:
    """The bundle at ``path``, checked enough that replay cannot trip over it."""
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
    if data["hook"] not in KNOWN_HOOKS:
        raise BundleError(f"{path}: unknown hook {data['hook']!r} (one of "
                          f"{', '.join(KNOWN_HOOKS)})")
    for key, kind, noun in (("core_version", str, "a string"), ("plugin", str, "a string"),
                            ("shim_window", int, "an integer"), ("native_args", list, "a list")):
        if key in data and data[key] is not None and (not isinstance(data[key], kind)
                                                      or isinstance(data[key], bool)):
            raise BundleError(f"{path}: {key!r} must be {noun}, "
                              f"not {data[key]!r:.60}")
    rule = data.get("rule")
    if rule is not None and (not isinstance(rule, dict) or rule.get("expect") not in EXPECTS):
        raise BundleError(f"{path}: 'rule' must be an object whose 'expect' is one of "
                          f"{', '.join(EXPECTS)}")
    files = data.get("files", data.get("datasets")) or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise BundleError(f"{path}: 'files' must be a list of workspace paths")
    for rel in files:
        src = path.parent / str(data.get("data_dir")) / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise BundleError(f"{path}: file {rel!r} is not a workspace path")
        if not (src.exists() or src.is_symlink()):  # a link is copied as a link
            raise BundleError(f"{path}: the copy of {rel} the call used is missing ({src}); "
                              "copy the whole vcs-repro folder, not only the .json")
    return data


def check_plugin(handle: str, flag: str = "--plugin") -> None:
    """Raise ``BundleError`` (one line) when ``handle`` names no plugin on this machine."""
    from ._runner import _installed_manifest

    if Path(handle).exists():
        return
    looks_like_path = "/" in handle or handle.endswith((".whl", ".tar.gz", ".zip"))
    if not looks_like_path and _installed_manifest(handle) is not None:
        return
    raise BundleError(f"plugin {handle!r} does not exist here (no such project directory, "
                      f"wheel or sdist{'' if looks_like_path else ', nor an installed plugin'}"
                      f"): give {flag} PATH to replay the bundle with your copy of the plugin")


def settings_for(bundle: dict[str, Any], base: Any, plugin: str | None = None) -> Any:
    """The settings of the original run, as far as the bundle records them.

    ``plugin`` (``--plugin``), else ``base.plugins[0]`` (``--vcs-plugin``), else
    the bundle's plugin: a CI bundle names the CI machine's path.
    """
    handle = plugin or (base.plugins[0] if base.plugins else str(bundle["plugin"]))
    return replace(base, core_version=str(bundle["core_version"]),
                   shim_window=int(bundle.get("shim_window") or base.shim_window),
                   sandbox=str(bundle.get("sandbox") or base.sandbox),
                   env=str(bundle.get("env") or base.env),
                   plugins=(handle,))


def restore(bundle_path: Path, bundle: dict[str, Any], root: Path) -> None:
    """Copy the files the call used back into the workspace at ``root``."""
    data_dir = bundle_path.parent / str(bundle.get("data_dir"))
    for rel in bundle.get("files", bundle.get("datasets")) or []:
        dst = root / rel
        if not dst.exists():
            copy_entry(data_dir / rel, dst)


def drift(bundle: dict[str, Any], run: Any) -> list[str]:
    """What differs between the plugin the bundle was written for and ``run``'s."""
    now = fingerprint(run.handle, run.manifest.path if run.manifest else None)
    out = []
    for key, what in (("manifest_sha256", "manifest"), ("lock_sha256", "lock file"),
                      ("artifact_sha256", "wheel/sdist")):
        then = bundle.get(key)
        if then and now[key] and then != now[key]:
            out.append(f"the plugin changed since the bundle was written: {what} sha256 "
                       f"{then} (bundle) != {now[key]} (now, {run.handle}): the verdict is "
                       "about the plugin as it is now")
        elif then and not now[key]:
            out.append(f"cannot compare the plugin's {what} with the bundle's (sha256 {then}): "
                       f"{run.handle} has none")
    return out


def replay(bundle_path: Path, run: Any, bundle: dict[str, Any] | None = None) -> str:
    """Rerun the bundle's call on ``run`` (a PluginRun); returns a one-line verdict.

    Raises ``CheckFailed`` when the call still breaks the check's rule.
    """
    from ._checks_impl import (
        _check_progress,
        _must_accept,
        _must_reject,
        _train,
        judge_hygiene,
        judge_preprocessed,
    )

    bundle = bundle if bundle is not None else load_bundle(bundle_path)
    restore(bundle_path, bundle, run.workspace.root)
    for message in drift(bundle, run):
        warnings.warn(VCSReplayDriftWarning(message), stacklevel=2)
    hook, args, check = str(bundle["hook"]), list(bundle["args"]), str(bundle["check"])
    rule = bundle.get("rule") or rule_for(check, {"rule": {"expect": "reject"}}
                                          if bundle.get("expect_reject") else {})
    post = rule.get("post")
    if check == "shim-equivalence":
        from ._shimcheck import compare

        native_args = bundle.get("native_args")
        if not isinstance(native_args, list):
            raise BundleError(f"{bundle_path}: a shim-equivalence bundle needs 'native_args'")
        compare(run, run.native_plugin(), run.plugin(), hook, native_args, args)
        return f"{check}: native and shimmed {hook} agree now"
    if post == "progress":
        verdict, _value, events = _train(run, args[0])
        _check_progress(events, finished=verdict == "ok", example=args[0], run=run)
        return f"{check}: train's progress events follow SPEC 4 now"
    if post == "hygiene":
        with contextlib.suppress(CheckFailed):  # the call's own verdict is not hygiene's
            run.call(hook, *args, **_progress_kw(hook))
        judge_hygiene(run)
        return f"{check}: {hook} left no process behind and wrote only where it may"
    if rule["expect"] == "reject":
        _must_reject(run, hook, str(rule.get("why") or "invalid input"), *args)
        return f"{check}: {hook} raised ValueError as it should"
    value = _must_accept(run, hook, *args, **_progress_kw(hook))
    if post == "preprocess-dataset":
        judge_preprocessed(run, args[0], value)
        return f"{check}: preprocess returned the Dataset the files imply"
    return f"{check}: {hook} returned a valid result"


def _progress_kw(hook: str) -> dict[str, Any]:
    return {"on_progress": lambda *event: None} if hook == "train" else {}


def pytest_replay(item: Any, state: Any) -> None:
    """The body of ``pytest --vcs-replay=FILE`` (``--vcs-plugin`` overrides the plugin)."""
    import pytest

    from ._runner import PluginRun

    path = state.settings.replay
    assert path is not None
    try:
        bundle = load_bundle(path)
        settings = settings_for(bundle, state.settings)
        check_plugin(settings.plugins[0], "--vcs-plugin")
    except BundleError as exc:
        pytest.fail(f"--vcs-replay: {exc}", pytrace=False)
    handle = settings.plugins[0]
    previous = state.runners.pop(handle, None)  # e.g. the header's runner: other settings
    if previous is not None:
        previous.close()
    run = PluginRun(handle, settings, item.config._tmp_path_factory,
                    rootdir=Path(str(item.config.rootpath)))
    state.runners[handle] = run
    item.user_properties.append(("vcs_check", bundle["check"]))
    try:
        print(replay(path, run, bundle))
    except (BundleError, VCSError) as exc:  # the plugin cannot load here, no such sandbox...
        pytest.fail(f"--vcs-replay: {exc}", pytrace=False)
