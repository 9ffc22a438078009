"""``IsolatedEnvProvider``: a plugin handle in, a cached, verified virtualenv out.

The host asks for a :class:`~vcs_conformance._seams.PluginEnv`; this builds
(once per content) a venv without system site packages holding the plugin's
wheel, exactly its locked main-group dependencies for this interpreter
(hash-checked, never built from source when the lock has a wheel, so a bad
hash cannot fall back to a build) and its manifest's ``dependencies.python``.
Without a lock the wheel is resolved normally and the result recorded.

Every failure is an :class:`EnvBuildError` quoting the tool, and leaves
nothing under the cache's final names: builds happen in
``envs/.building-<key>-*`` and are renamed into place only when complete.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .._seams import PluginEnv
from .._worker import PROTOCOL_VERSION
from ..errors import EnvBuildError, ManifestError
from ._cache import (
    commit,
    default_cache_dir,
    discard,
    entry_lock,
    env_key,
    read_record,
    record_files,
    touch,
    verify_files,
    write_record,
)
from ._handles import WheelFacts, classify, inspect_wheel, lock_source, obtain_wheel, sha256_file
from ._install import (
    PythonInfo,
    Tools,
    create_venv,
    find_tools,
    install,
    installed_distributions,
    probe_python,
    site_packages,
    venv_python,
)
from ._locks import LockedSet, read_lock, unmet_requirements
from ._sysdeps import SystemRequirement, ensure_system_deps

__all__ = ["WORKER_PROTOCOL_VERSION", "IsolatedEnvProvider"]

#: Part of every cache key: a worker protocol change invalidates every env.
#: (Mirrors ``vcs_conformance._worker.PROTOCOL_VERSION``.)
WORKER_PROTOCOL_VERSION = PROTOCOL_VERSION  # the env cache keys on the worker protocol
#: Bumped when the cache layout or what an env holds changes.
CACHE_LAYOUT_VERSION = 1


class IsolatedEnvProvider:
    """Builds and caches one isolated virtualenv per plugin content (SPEC 2).

    ``cache_dir`` defaults to ``VCS_CONFORMANCE_CACHE_DIR``, else the user
    cache dir; ``python`` to the running interpreter (its base, resolved
    through venvs and pyenv shims); ``offline`` installs from ``find_links``
    only; ``install_system_deps`` runs the package manager for missing
    ``dependencies.system``; ``installer`` is ``"auto"`` (uv, else pip),
    ``"uv"`` or ``"pip"``.
    """

    def __init__(self, *, cache_dir: Path | None = None, python: Path | None = None,
                 offline: bool = False, find_links: Sequence[Path] = (),
                 install_system_deps: bool = False, installer: str = "auto") -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.python = Path(python) if python is not None else None
        self.offline = offline
        self.find_links = tuple(Path(p).resolve() for p in find_links)
        self.install_system_deps = install_system_deps
        self.installer = installer
        self._info: PythonInfo | None = None
        self._tools: Tools | None = None
        if offline and not self.find_links:
            raise EnvBuildError("offline mode needs a wheelhouse: pass find_links "
                                "(--find-links DIR)", details={"stage": "config"})

    # -- the seam ------------------------------------------------------------------

    def prepare(self, handle: str | os.PathLike[str], *, scratch: Path | None = None
                ) -> PluginEnv:
        """The ``EnvProvider`` protocol form; the env lives in the cache, not ``scratch``."""
        return self(handle)

    def wheel_for(self, handle: str | os.PathLike[str]) -> Path:
        """The built wheel of ``handle`` (cached by source hash), without making an env.

        The ``manifest-present`` check inspects the very wheel the env is
        built from, so the project is built once per source state, not once
        per check run.
        """
        wheel, _ = obtain_wheel(classify(handle), cache_dir=self.cache_dir,
                                tools=self._installer_tools(), python=self._python_info(),
                                offline=self.offline, find_links=self.find_links)
        return wheel

    def __call__(self, handle: str | os.PathLike[str]) -> PluginEnv:
        """The ready env for ``handle``: from the cache when intact, else built now.

        Raises :class:`EnvBuildError` (bad handle, stale lock, failed build or
        install, offline gaps) or :class:`SystemDependencyMissing`.
        """
        started = time.perf_counter()
        python = self._python_info()
        tools = self._installer_tools()
        target = classify(handle)
        # The lock first: a stale lock fails in milliseconds, before any build.
        source = lock_source(target)
        locked = read_lock(source, python.marker_env) if source is not None else None
        wheel, build_seconds = obtain_wheel(target, cache_dir=self.cache_dir, tools=tools,
                                            python=python, offline=self.offline,
                                            find_links=self.find_links)
        wheel_sha = sha256_file(wheel)
        key = env_key({
            "layout": CACHE_LAYOUT_VERSION, "protocol": WORKER_PROTOCOL_VERSION,
            "wheel": wheel_sha, "lock": locked.requirements_text() if locked else None,
            "python": python.version, "executable": str(python.executable),
            "platform": [python.marker_env["sys_platform"],
                         python.marker_env["platform_machine"]],
        })
        envs = self.cache_dir / "envs"
        entry = envs / key
        context = {"handle": str(handle), "handle_kind": target.kind, "wheel": str(wheel),
                   "build": build_seconds, "started": started}
        with entry_lock(envs, key):
            record = read_record(entry)
            reason = None
            if record is not None:
                reason = verify_files(entry / "venv", record.get("files") or {})
                if reason is None and not python.executable.exists():
                    reason = f"its base interpreter {python.executable} is gone"
                if reason is None:
                    self._check_system(record)
                    touch(entry)
                    return self._plugin_env(entry, record, python, hit=True, context=context)
            elif entry.exists():
                reason = "no record (an incomplete env)"
            record = self._build(entry, key, wheel, locked, python, tools, context)
            if reason is not None:
                record["rebuilt_reason"] = reason
            return self._plugin_env(entry, record, python, hit=False, context=context)

    # -- pieces ----------------------------------------------------------------------

    def _python_info(self) -> PythonInfo:
        if self._info is None:
            self._info = probe_python(self.python)
        return self._info

    def _installer_tools(self) -> Tools:
        if self._tools is None:
            self._tools = find_tools(self.installer)
        return self._tools

    def _check_system(self, record: Mapping[str, Any]) -> list[str]:
        reqs = [SystemRequirement.from_obj(d) for d in record.get("system_dependencies") or []]
        return ensure_system_deps(reqs, install=self.install_system_deps,
                                  plugin=record.get("dist_name"))

    def _plugin_env(self, entry: Path, record: Mapping[str, Any], python: PythonInfo, *,
                    hit: bool, context: Mapping[str, Any]) -> PluginEnv:
        venv = entry / "venv"
        site = site_packages(venv, python)
        readonly = [venv, python.base_prefix]
        if not python.executable.is_relative_to(python.base_prefix):
            readonly.append(python.executable.parent)
        timings = {"build": round(float(context["build"]), 4),
                   "venv": 0.0 if hit else record["timings"]["venv"],
                   "install": 0.0 if hit else record["timings"]["install"],
                   "total": round(time.perf_counter() - float(context["started"]), 4)}
        info: dict[str, Any] = {
            "installer": record["installer"], "python_version": record["python_version"],
            "python": str(python.executable), "cache_hit": hit, "timings": timings,
            "key": entry.name, "lock": record.get("lock"), "locked": record.get("locked"),
            "resolved": record.get("resolved"), "extra_dependencies":
                record.get("extra_dependencies"), "wheel": context["wheel"],
            "handle_kind": context["handle_kind"], "offline": self.offline,
        }
        if record.get("rebuilt_reason"):
            info["rebuilt_reason"] = record["rebuilt_reason"]
        return PluginEnv(
            python=venv_python(venv), readonly_paths=tuple(readonly), sys_path=(),
            dist_name=record["dist_name"], entry_point=record.get("entry_point"),
            entry_module=record.get("entry_module"),
            manifest_path=site / record["manifest_member"], kind="isolated", info=info)

    def _build(self, entry: Path, key: str, wheel: Path, locked: LockedSet | None,
               python: PythonInfo, tools: Tools, context: Mapping[str, Any]) -> dict[str, Any]:
        facts = inspect_wheel(wheel)
        manifest = _load_manifest(wheel, facts)
        system = [SystemRequirement.from_obj(d) for d in manifest.system_dependencies]
        ensure_system_deps(system, install=self.install_system_deps, plugin=facts.dist_name)
        env = python.marker_env
        extra = list(manifest.python_dependencies)
        if locked is not None:
            unmet = unmet_requirements(facts.requires_dist, locked.pins(), env)
            if unmet:
                raise EnvBuildError(
                    f"{locked.origin} does not match the wheel {wheel.name}: "
                    + "; ".join(unmet), plugin=facts.dist_name,
                    hint="run `poetry lock` so the lock covers the project's dependencies",
                    details={"stage": "lock", "unmet": unmet})
            extra = _extra_beyond_lock(extra, locked, env, facts.dist_name)
        if self.offline:
            _check_wheelhouse(locked, self.find_links, facts.dist_name)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".building-{key}-", dir=entry.parent))
        try:
            record = self._populate(tmp, wheel, facts, locked, extra, python, tools)
            record.update({"system_dependencies": [s.to_json() for s in system],
                           "created": time.time(), "handle": context["handle"]})
            write_record(tmp, record)
            (tmp / "last-used").touch()
            commit(tmp, entry)
        except BaseException:
            discard(tmp)
            raise
        return record

    def _populate(self, tmp: Path, wheel: Path, facts: WheelFacts, locked: LockedSet | None,
                  extra: list[str], python: PythonInfo, tools: Tools) -> dict[str, Any]:
        venv = tmp / "venv"
        started = time.perf_counter()
        create_venv(tools, python, venv)
        venv_seconds = time.perf_counter() - started
        started = time.perf_counter()
        offline, links = self.offline, self.find_links
        own = f"{facts.dist_name} @ {wheel.as_uri()} --hash=sha256:{facts.sha256}\n"
        requirements = tmp / "requirements.txt"
        if locked is not None:
            requirements.write_text(own + locked.requirements_text(), encoding="utf-8")
            binary = [facts.dist_name] + [p.name for p in locked.packages if p.has_wheel]
            install(tools, venv, requirements, no_deps=True,
                    require_hashes=locked.fully_hashed, only_binary=binary,
                    what=f"installing {facts.dist_name} and its {len(locked.packages)} "
                         f"locked packages from {locked.origin}", offline=offline, find_links=links)
            if extra:
                constraints = tmp / "constraints.txt"
                constraints.write_text("".join(f"{p.name}=={p.version}\n" for p in
                                               locked.packages if p.version), encoding="utf-8")
                more = tmp / "extra.txt"
                more.write_text("".join(f"{d}\n" for d in extra), encoding="utf-8")
                install(tools, venv, more, no_deps=False, constraints=constraints,
                        what="installing the manifest's dependencies.python "
                             f"({', '.join(extra)})", offline=offline, find_links=links)
        else:
            requirements.write_text(own + "".join(f"{d}\n" for d in extra), encoding="utf-8")
            install(tools, venv, requirements, no_deps=False,
                    what=f"installing {facts.dist_name} (no lock: resolving its dependencies)",
                    offline=offline, find_links=links)
        install_seconds = time.perf_counter() - started
        site = site_packages(venv, python)
        resolved = installed_distributions(site)
        _check_installed(resolved, facts, locked, extra, python)
        if not (site / facts.manifest_member).is_file():
            raise EnvBuildError(f"after installing, {facts.manifest_member} is not in "
                                f"{site}", plugin=facts.dist_name, details={"stage": "install"})
        if tools.installer == "pip":
            _fix_shebangs(venv, final=tmp.parent / tmp.name.split("-")[1] / "venv")
        return {
            "dist_name": facts.dist_name, "version": facts.version,
            "entry_point": facts.entry_point, "entry_module": facts.entry_module,
            "manifest_member": facts.manifest_member, "wheel_sha256": facts.sha256,
            "installer": tools.installer, "python_version": python.marker_env[
                "python_full_version"], "lock": locked.origin if locked else None,
            "locked": locked.pins() if locked else None, "resolved": resolved,
            "extra_dependencies": extra,
            "timings": {"venv": round(venv_seconds, 4), "install": round(install_seconds, 4)},
            "files": record_files(venv),
        }


def _load_manifest(wheel: Path, facts: WheelFacts) -> Any:
    from ..manifest import load_manifest

    try:
        return load_manifest(wheel)
    except ManifestError as exc:
        raise EnvBuildError(f"the manifest {facts.manifest_member} in {wheel.name} is invalid, "
                            "so its dependencies cannot be read:\n" + "\n".join(
                                "    " + p.render() for p in exc.problems),
                            plugin=facts.dist_name, details={"stage": "manifest",
                                                             **exc.details}) from None


def _extra_beyond_lock(extra: list[str], locked: LockedSet, env: Mapping[str, str],
                       plugin: str) -> list[str]:
    """Manifest dependencies the lock does not cover; a lock that contradicts one fails."""
    pins = locked.pins()
    beyond: list[str] = []
    for text in extra:
        unmet = unmet_requirements([text], pins, env)
        if not unmet:
            continue
        if canonicalize_name(Requirement(text).name) not in pins:
            beyond.append(text)
            continue
        raise EnvBuildError(f"{locked.origin} contradicts the manifest's dependencies.python: "
                            f"{unmet[0]}", plugin=plugin,
                            hint="align the manifest with the lock (or re-lock)",
                            details={"stage": "lock"})
    return beyond


def _check_wheelhouse(locked: LockedSet | None, links: Sequence[Path], plugin: str) -> None:
    """Offline: name every locked package the wheelhouse lacks, before any install."""
    if locked is None:
        return
    have: set[tuple[str, Version]] = set()
    for link in links:
        for path in link.iterdir() if link.is_dir() else []:
            try:
                if path.name.endswith(".whl"):
                    name, version, *_ = parse_wheel_filename(path.name)
                elif path.name.endswith((".tar.gz", ".zip")):
                    name, version = parse_sdist_filename(path.name)
                else:
                    continue
            except (ValueError, InvalidVersion):
                continue
            have.add((canonicalize_name(name), version))
    missing = []
    for package in locked.packages:
        if package.url is not None or package.version is None:
            continue
        if (package.key, Version(package.version)) not in have:
            missing.append(f"{package.name}=={package.version}")
    if missing:
        raise EnvBuildError(
            f"offline: the wheelhouse ({', '.join(map(str, links))}) lacks the locked "
            f"package{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(from {locked.origin})", plugin=plugin,
            hint="add them: pip download --no-deps -d WHEELHOUSE " + " ".join(missing),
            details={"stage": "offline", "missing": missing})


def _check_installed(resolved: Mapping[str, str], facts: WheelFacts, locked: LockedSet | None,
                     extra: list[str], python: PythonInfo) -> None:
    """After the install: the locked versions exactly, and every requirement met."""
    problems: list[str] = []
    if locked is not None:
        for package in locked.packages:
            have = resolved.get(package.key)
            if package.version is not None and have != package.version:
                problems.append(f"{package.name} is {have or 'missing'}, locked "
                                f"{package.version}")
    problems += unmet_requirements([*facts.requires_dist, *extra], resolved, python.marker_env,
                                   what="installed")
    if problems:
        raise EnvBuildError("the installed env differs from what was asked: "
                            + "; ".join(problems), plugin=facts.dist_name,
                            details={"stage": "install", "problems": problems})


def _fix_shebangs(venv: Path, final: Path) -> None:
    """pip writes absolute shebangs: point them at the venv's final place before the rename."""
    old = f"#!{venv}/".encode()
    new = f"#!{final}/".encode()
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    for script in scripts.iterdir() if scripts.is_dir() else []:
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(old):
            script.write_bytes(new + data[len(old):])
