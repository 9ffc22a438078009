"""Writing a replay bundle: everything a failing check's call needs to run again.

Why a bundle holds more than the call: "same verdict on replay" needs the
*rule* the call broke (accept, reject, or a post-condition the check
judges after the call: the expected Dataset, the hygiene evidence, the
progress events), the workspace files the call read (the dataset, the
model ``lifecycle-pipeline`` trained), and fingerprints of the plugin
(manifest, lock, artefact) so a replay at home can say when it no longer
runs the plugin CI ran.  ``_replay`` reads it back.

Layout: ``<repro_dir>/<plugin>/<check>.json`` plus ``<check>-data/``, a
copy of each workspace path the call named (``datasets/<name>``,
``models/<file>``, ...), as it was *before* the call (paths the call itself
created there, e.g. a file written into a read-only dataset, are left out).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._catalogue import BY_ID, CheckSpec
from ._hypo import is_derandomized
from ._outcome import CheckFailed

if TYPE_CHECKING:
    from ._runner import PluginRun

BUNDLE_VERSION = 2
#: Workspace areas a call's arguments may name; such paths are copied into the bundle.
DATA_ROOTS = ("datasets", "models", "cache", "outputs")
#: Post-conditions judged after the call, by check id (see ``_replay.replay``).
POST_CONDITIONS = {"preprocess-valid": "preprocess-dataset", "train-progress": "progress",
                   "hygiene": "hygiene"}
#: Files a project may lock its dependencies in (what ``envs`` reads).
LOCK_FILES = ("pylock.toml", "poetry.lock")
#: A longer ``vcs-conformance run`` command is not shown (the replay command always is).
MAX_COMMAND = 2000


def rule_for(check_id: str, details: dict[str, Any]) -> dict[str, Any]:
    """The verdict rule of the failing call: what replay must see to call it a pass.

    ``expect`` is ``accept`` (return a valid result), ``reject`` (raise
    ``ValueError``; ``why`` says what is invalid) or ``any`` (the call's own
    outcome is another check's business; only ``post`` is judged).
    """
    rule = dict(details.get("rule") or {})
    rule.setdefault("expect", "reject" if check_id.endswith("-invalid") else "accept")
    post = POST_CONDITIONS.get(check_id)
    if post is not None:
        rule["post"] = post
        if post in ("progress", "hygiene"):
            rule["expect"] = "any"
    return rule


def workspace_paths(args: Any) -> list[str]:
    """``datasets/<name>``, ``models/<file>``, ...: the workspace entries the arguments name."""
    found: list[str] = []
    for text in _strings(args):
        parts = text.split("/")
        if len(parts) >= 2 and parts[0] in DATA_ROOTS and parts[1] not in ("", ".", ".."):
            top = "/".join(parts[:2])
            if top not in found:
                found.append(top)
    return found


def copy_entry(src: Path, dst: Path, skip: frozenset[str] = frozenset(),
               rel: str = "") -> bool:
    """Copy a file or directory; ``skip`` holds paths (relative like ``rel``) to leave out.

    Symlinks are copied as links, never followed: a link the plugin left in
    ``models/`` or ``cache/`` must not carry a host file into a CI artifact.
    """
    if src.is_symlink():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(src), dst)
        return True
    if src.is_dir():
        def ignore(directory: str, names: list[str]) -> list[str]:
            below = Path(directory).relative_to(src)
            prefix = f"{rel}/{below.as_posix()}" if below.parts else rel
            return [n for n in names if f"{prefix}/{n}" in skip]
        shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True, symlinks=True)
        return True
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return True
    return False


def fingerprint(handle: str, manifest_path: str | None) -> dict[str, str | None]:
    """Hashes that say whether a replay runs the plugin the bundle was written for.

    The manifest (for a project directory), its lock file (``pylock.toml`` or
    ``poetry.lock`` beside ``pyproject.toml``; ``None`` when there is none),
    and for a wheel or sdist the artefact itself (a lock cannot be told apart
    from the artefact there).
    """
    out: dict[str, str | None] = {"manifest_sha256": None, "lock_file": None,
                                  "lock_sha256": None, "artifact_sha256": None}
    if manifest_path and Path(manifest_path).is_file():
        out["manifest_sha256"] = _sha256(Path(manifest_path))
    path = Path(handle)
    if path.is_dir():
        for name in LOCK_FILES:
            if (path / name).is_file():
                out["lock_file"], out["lock_sha256"] = name, _sha256(path / name)
                break
    elif path.is_file():
        out["artifact_sha256"] = _sha256(path)
    return out


def hypothesis_info(run: PluginRun, check_id: str) -> dict[str, Any]:
    """How the failing example was drawn, so it can be drawn again.

    The ``ci`` and ``quick`` profiles without ``--hypothesis-seed`` are
    derandomized: hypothesis derives its seed from the test function, which
    is the same for every check, so the same examples come every run;
    ``dev``/``nightly`` keep the failing example in the hypothesis
    database, in the check's own namespace (``database_key``).  What a
    replay makes is the call itself: the shrunk example is in ``example``.
    """
    s = run.settings
    derandomized = is_derandomized(s.profile, s.seed)
    return {"profile": s.profile, "seed": s.seed, "derandomized": derandomized,
            "database_key": run.database_key(check_id),
            "examples": s.examples_for(BY_ID[check_id].hook if check_id in BY_ID else None),
            "database": "off" if s.profile in ("ci", "quick") else "on"}


def run_command(run: PluginRun, hook: str, args: list[Any], data: Path | None,
                level: str) -> str | None:
    """The ``vcs-conformance run`` command of the call, or None where it cannot say it.

    ``run`` takes one text and a voice config, a dataset directory, or a
    config: a ``train`` Dataset (it names workspace audio), a voice config
    naming a trained model, and non-JSON or over-long arguments cannot be
    written on a command line; the replay command covers those.
    """
    s = run.settings
    head = ["vcs-conformance", "run", "--core-version", run.core_version, "--shim-window",
            str(s.shim_window), "--sandbox", level, "--env", s.env]
    try:
        if hook == "synthesize" and len(args) == 2 and isinstance(args[0], str) \
                and isinstance(args[1], dict) and "model" not in args[1]:
            cmd = [*head, "--voice-config", _strict(args[1]), run.handle, "synthesize", "--",
                   args[0]]
        elif hook == "preprocess" and len(args) == 1 and isinstance(args[0], str) \
                and data is not None and (data / args[0]).is_dir():
            cmd = [*head, run.handle, "preprocess", str(data / args[0])]
        elif hook == "init" and len(args) == 1:
            cmd = [*head, run.handle, "init", "--", _strict(args[0])]
        else:
            return None
    except ValueError:  # NaN or infinity: not JSON the command line could pass
        return None
    if any("\0" in part for part in cmd):
        return None
    text = shlex.join(cmd)
    return text if len(text) <= MAX_COMMAND else None


def write_bundle(run: PluginRun, spec: CheckSpec, exc: CheckFailed) -> Path | None:
    """Write ``<repro_dir>/<plugin>/<check>.json`` (and its data) for a failed check.

    Sets ``exc.replay`` and ``exc.run_command`` so the failure message shows
    both.  Returns None when the check made no plugin call (nothing to replay).
    """
    from ._runner import _slug

    call = exc.details.get("call") or run.last_call
    if call is None:
        return None
    folder = run.settings.repro_dir / _slug(run.name)
    folder.mkdir(parents=True, exist_ok=True)
    data_name = f"{spec.id}-data"
    data = folder / data_name
    if data.exists():
        shutil.rmtree(data)  # a bundle of an earlier run: its files are not this call's
    skip = frozenset(str(p) for p in call.get("created") or ())
    args = call.get("args") or []
    files = [rel for rel in workspace_paths([args, call.get("native_args") or []])
             if copy_entry(run.workspace.root / rel, data / rel, skip, rel)]
    level = run.sandbox_level()
    manifest = run.manifest
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "plugin": run.handle,
        "plugin_name": run.name,
        "plugin_version": manifest.version if manifest else None,
        "check": spec.id,
        "hook": call.get("hook"),
        "args": args,
        "native_args": call.get("native_args"),
        "rule": rule_for(spec.id, exc.details),
        "expected": exc.expected,
        "seen": exc.seen,
        "example": exc.example,
        "expected_result": exc.details.get("expected_result"),
        "hypothesis": hypothesis_info(run, spec.id),
        "seed": _seed_text(run),
        "core_version": run.core_version,
        "plugin_api": manifest.api_version if manifest else None,
        "shim_chain": list(run.decision.chain) if run.decision else [],
        "shim_window": run.settings.shim_window,
        "sandbox": level,
        "sandbox_requested": run.settings.sandbox,
        "env": run.settings.env,
        **fingerprint(run.handle, manifest.path if manifest else None),
        "files": files,
        "datasets": [f for f in files if f.startswith("datasets/")],
        "data_dir": data_name if files else None,
    }
    path = folder / f"{spec.id}.json"
    exc.replay = f"vcs-conformance replay {shlex.quote(str(path))}"
    exc.run_command = run_command(run, str(bundle["hook"]), list(args),
                                  data if files else None, level)
    bundle["replay_command"], bundle["run_command"] = exc.replay, exc.run_command
    path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False, default=repr) + "\n",
                    encoding="utf-8")
    return path


def _seed_text(run: PluginRun) -> int | str:
    info = hypothesis_info(run, "")
    if info["seed"] is not None:
        return info["seed"]  # type: ignore[no-any-return]
    return "derandomized" if info["derandomized"] else "random (see hypothesis.database_key)"


def _strict(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
