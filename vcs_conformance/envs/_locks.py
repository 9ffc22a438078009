"""``poetry.lock`` and PEP 751 ``pylock.toml`` -> the exact pins for one interpreter.

Why not ``poetry export`` or ``poetry install``: Poetry 2 has no built-in
export, and Poetry's own installer is an order of magnitude slower than
``uv pip install --no-deps`` of a hash-pinned list (measured in issue 5).
Converting with the standard library gives the same pins and hashes.

Which packages: the lock holds every package for every platform and group.
We walk the dependency graph the way ``poetry install --only main`` does,
starting from the project's main dependencies, following each locked
package's own dependencies (markers evaluated for *this* interpreter and
platform with :mod:`packaging.markers`, optional ones only when an extra
asks for them).  For ``pylock.toml`` the lock already says which packages
apply through each package's ``marker``.

A lock that disagrees with ``pyproject.toml`` (a main dependency missing
from it, or a locked version outside the declared range) is an error, not a
silent reinstall: the point of a lock is that the env holds exactly it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import EnvBuildError

__all__ = [
    "LockSource",
    "LockedPackage",
    "LockedSet",
    "read_lock",
    "unmet_requirements",
]


@dataclass(frozen=True)
class LockSource:
    """The texts a lock decision needs; ``origin`` says where they came from."""

    origin: str
    pyproject: str | None = None
    poetry_lock: str | None = None
    pylock: str | None = None
    #: Directory a ``directory``/``file`` source path in the lock is relative to.
    base_dir: Path | None = None


@dataclass(frozen=True)
class LockedPackage:
    """One pinned distribution: ``name==version`` or ``name @ url``, with hashes."""

    name: str
    version: str | None
    hashes: tuple[str, ...] = ()
    #: True when the lock lists a wheel for it, so building it is never needed.
    has_wheel: bool = False
    #: A direct reference (``file://``, ``git+``...) instead of the index.
    url: str | None = None

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def requirement_line(self) -> str:
        """One line of a requirements file, pip/uv syntax, hashes included."""
        if self.url is not None:
            head = f"{self.name} @ {self.url}"
        else:
            head = f"{self.name}=={self.version}"
        return " ".join([head, *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class LockedSet:
    """The packages of one lock that apply to this interpreter and platform."""

    kind: str
    origin: str
    packages: tuple[LockedPackage, ...]

    @property
    def fully_hashed(self) -> bool:
        """True when every package has a hash: ``--require-hashes`` applies."""
        return all(p.hashes for p in self.packages)

    def requirements_text(self) -> str:
        return "".join(p.requirement_line() + "\n" for p in self.packages)

    def pins(self) -> dict[str, str]:
        """Canonical name -> locked version (direct references map to their URL)."""
        return {p.key: p.version or p.url or "" for p in self.packages}


def _fail(message: str, origin: str, hint: str | None = None) -> EnvBuildError:
    return EnvBuildError(f"{origin}: {message}", hint=hint, details={"stage": "lock"})


def _marker_true(marker: str | None, env: Mapping[str, str], origin: str,
                 extras: Iterable[str] = ("",)) -> bool:
    """Evaluate a PEP 508 marker; with ``extras``, true when any extra makes it true."""
    if not marker or not marker.strip():
        return True
    try:
        parsed = Marker(marker)
    except InvalidMarker as exc:
        raise _fail(f"invalid environment marker {marker!r}: {exc}", origin) from None
    return any(parsed.evaluate({**env, "extra": extra}) for extra in (list(extras) or [""]))


# -- Poetry version constraints ---------------------------------------------------

_CARET = re.compile(r"^\^\s*(\d+(?:\.\d+)*)(.*)$")
_TILDE = re.compile(r"^~(?!=)\s*(\d+(?:\.\d+)*)(.*)$")


def _bump(parts: list[int], index: int) -> str:
    head = parts[:index + 1]
    head[index] += 1
    return ".".join(str(p) for p in head)


def _one_constraint(text: str) -> list[str]:
    """A single Poetry constraint (``^1.2``, ``~1.2``, ``1.2.*``, ``>=1``...) as PEP 440."""
    text = text.strip()
    if text in ("", "*"):
        return []
    caret = _CARET.match(text)
    if caret and not caret.group(2).strip():
        parts = [int(p) for p in caret.group(1).split(".")]
        first = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
        return [f">={caret.group(1)}", f"<{_bump(parts, first)}"]
    tilde = _TILDE.match(text)
    if tilde and not tilde.group(2).strip():
        parts = [int(p) for p in tilde.group(1).split(".")]
        return [f">={tilde.group(1)}", f"<{_bump(parts, 0 if len(parts) == 1 else 1)}"]
    if text[0].isdigit():
        return [f"=={text}"]
    return [text.replace(" ", "")]


def poetry_constraint(text: str) -> list[SpecifierSet]:
    """A Poetry constraint string as alternatives (``||``) of PEP 440 specifier sets."""
    alternatives: list[SpecifierSet] = []
    for raw in re.split(r"\|\|?", text):
        alt = re.sub(r"([<>=!~^]=?)\s+", r"\1", raw).strip()
        specs: list[str] = []
        for piece in re.split(r",|\s+(?=[<>=!~^\d])", alt):
            specs += _one_constraint(piece)
        alternatives.append(SpecifierSet(",".join(specs)))
    return alternatives


def _satisfies(version: str, constraint: str | None, origin: str) -> bool:
    if constraint is None:
        return True
    try:
        parsed = Version(version)
        return any(s.contains(parsed, prereleases=True) for s in poetry_constraint(constraint))
    except (InvalidSpecifier, InvalidVersion, ValueError):
        raise _fail(f"cannot read the version constraint {constraint!r}", origin) from None


# -- Poetry dependency specs -------------------------------------------------------

@dataclass(frozen=True)
class _Dep:
    name: str
    constraint: str | None
    marker: str | None
    python: str | None
    optional: bool
    extras: tuple[str, ...]


def _poetry_deps(name: str, spec: Any) -> list[_Dep]:
    """``name = "^1"`` / ``{version, markers, python, optional, extras}`` / a list of them."""
    specs = spec if isinstance(spec, list) else [spec]
    out: list[_Dep] = []
    for item in specs:
        if isinstance(item, str):
            out.append(_Dep(name, item, None, None, False, ()))
        elif isinstance(item, dict):
            platform = item.get("platform")
            marker = item.get("markers")
            if isinstance(platform, str):
                extra = f'sys_platform == "{platform}"'
                marker = f"({marker}) and {extra}" if marker else extra
            out.append(_Dep(name, item.get("version"), marker, item.get("python"),
                            bool(item.get("optional", False)),
                            tuple(str(e) for e in item.get("extras", ()))))
    return out


def _pep508_dep(text: str, origin: str) -> tuple[_Dep, Requirement]:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise _fail(f"invalid requirement {text!r}: {exc}", origin) from None
    return (_Dep(req.name, str(req.specifier) or None, str(req.marker) if req.marker else None,
                 None, False, tuple(sorted(req.extras))), req)


def _root_deps(pyproject: Mapping[str, Any], origin: str) -> list[_Dep]:
    """The project's main-group dependencies (PEP 621, else ``tool.poetry``)."""
    project = pyproject.get("project") or {}
    poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    poetry_main = {k: v for k, v in (poetry.get("dependencies") or {}).items()
                   if k.lower() != "python"}
    if isinstance(project.get("dependencies"), list):
        roots = [_pep508_dep(str(t), origin)[0] for t in project["dependencies"]]
        # Poetry 2 lets tool.poetry.dependencies refine PEP 621 entries (markers, python).
        refine = {canonicalize_name(k): v for k, v in poetry_main.items()}
        out: list[_Dep] = []
        for dep in roots:
            extra = refine.get(canonicalize_name(dep.name))
            if extra is None:
                out.append(dep)
                continue
            for refined in _poetry_deps(dep.name, extra):
                out.append(_Dep(dep.name, dep.constraint, dep.marker or refined.marker,
                                refined.python, dep.optional, dep.extras or refined.extras))
        return out
    deps: list[_Dep] = []
    for name, spec in poetry_main.items():
        deps += _poetry_deps(name, spec)
    return deps


# -- poetry.lock -----------------------------------------------------------------

def _files_of(package: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    files = package.get("files")
    if files is None:  # lock-version 1.x keeps them in [metadata.files]
        files = (metadata.get("files") or {}).get(package.get("name", ""), [])
    return [f for f in files if isinstance(f, dict)]


def _poetry_package(entry: Mapping[str, Any], metadata: Mapping[str, Any],
                    base_dir: Path | None, origin: str) -> LockedPackage:
    name, version = str(entry["name"]), str(entry["version"])
    files = _files_of(entry, metadata)
    hashes = tuple(sorted({str(f["hash"]) for f in files if f.get("hash")}))
    has_wheel = any(str(f.get("file", "")).endswith(".whl") for f in files)
    source = entry.get("source") or {}
    kind = source.get("type")
    url: str | None = None
    if kind == "git":
        ref = source.get("resolved_reference") or source.get("reference") or ""
        url = f"git+{source['url']}@{ref}"
        if source.get("subdirectory"):
            url += f"#subdirectory={source['subdirectory']}"
    elif kind in ("directory", "file"):
        path = Path(str(source["url"]))
        if not path.is_absolute():
            if base_dir is None:
                raise _fail(f"package {name} comes from the relative path {path}, which cannot "
                            "be found from here", origin)
            path = (base_dir / path).resolve()
        url = path.as_uri()
    elif kind == "url":
        url = str(source["url"])
    return LockedPackage(name, version, hashes, has_wheel, url)


def _entry_applies(entry: Mapping[str, Any], env: Mapping[str, str], origin: str) -> bool:
    """Lock-version 2.1 markers (per group) and ``python-versions`` of one entry."""
    markers = entry.get("markers")
    if isinstance(markers, dict):
        markers = markers.get("main")
    if isinstance(markers, str) and not _marker_true(markers, env, origin):
        return False
    py = entry.get("python-versions")
    return not isinstance(py, str) or _satisfies(env["python_full_version"], py, origin)


def _poetry_lock(pyproject: Mapping[str, Any], lock: Mapping[str, Any], env: Mapping[str, str],
                 source: LockSource) -> LockedSet:
    origin = source.origin
    entries: dict[str, list[Mapping[str, Any]]] = {}
    for entry in lock.get("package") or []:
        if not isinstance(entry, dict) or "name" not in entry or "version" not in entry:
            raise _fail("a [[package]] entry lacks name or version", origin)
        entries.setdefault(canonicalize_name(str(entry["name"])), []).append(entry)
    roots = _root_deps(pyproject, origin)
    for dep in roots:  # the lock must cover every main dependency, on every platform
        found = entries.get(canonicalize_name(dep.name))
        if not found:
            raise _fail(f"the main dependency {dep.name!r} of pyproject.toml is not in "
                        "poetry.lock: the lock is out of date", origin,
                        hint="run `poetry lock` and commit the new poetry.lock")
        if dep.constraint and not any(_satisfies(str(e["version"]), dep.constraint, origin)
                                      for e in found):
            have = ", ".join(str(e["version"]) for e in found)
            raise _fail(f"pyproject.toml asks for {dep.name} {dep.constraint} but poetry.lock "
                        f"pins {have}: the lock is out of date", origin,
                        hint="run `poetry lock` and commit the new poetry.lock")
    chosen: dict[str, Mapping[str, Any]] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    queue: list[tuple[_Dep, tuple[str, ...]]] = [(d, ("",)) for d in roots if not d.optional]
    while queue:
        dep, parent_extras = queue.pop(0)
        if dep.marker and not _marker_true(dep.marker, env, origin, parent_extras):
            continue
        if dep.python and not _satisfies(env["python_full_version"], dep.python, origin):
            continue
        key = canonicalize_name(dep.name)
        candidates = [e for e in entries.get(key, [])
                      if _satisfies(str(e["version"]), dep.constraint, origin)]
        applicable = [e for e in candidates if _entry_applies(e, env, origin)]
        if not applicable:
            if candidates:  # locked, just not for this platform (lock 2.1 markers)
                continue
            raise _fail(f"{dep.name} {dep.constraint or ''} is needed but no locked version "
                        "satisfies it: the lock is inconsistent", origin,
                        hint="run `poetry lock` and commit the new poetry.lock")
        entry = chosen.setdefault(key, applicable[0])
        marker = (key, dep.extras)
        if marker in seen:
            continue
        seen.add(marker)
        wanted = {canonicalize_name(Requirement(r).name) for extra in dep.extras
                  for r in (entry.get("extras") or {}).get(extra, [])}
        for name, spec in (entry.get("dependencies") or {}).items():
            for child in _poetry_deps(str(name), spec):
                if child.optional and canonicalize_name(child.name) not in wanted:
                    continue
                queue.append((child, dep.extras or ("",)))
    packages = [_poetry_package(chosen[k], lock.get("metadata") or {}, source.base_dir, origin)
                for k in sorted(chosen)]
    return LockedSet("poetry.lock", origin, tuple(packages))


# -- pylock.toml (PEP 751) --------------------------------------------------------

def _pylock_marker(marker: str, env: Mapping[str, str], groups: Sequence[str],
                   origin: str) -> bool:
    try:
        parsed = Marker(marker)
    except InvalidMarker as exc:
        raise _fail(f"invalid marker {marker!r}: {exc}", origin) from None
    lock_env: dict[str, Any] = {**env, "extras": frozenset(),
                                "dependency_groups": frozenset(groups)}
    try:
        return parsed.evaluate(lock_env, "lock_file")  # type: ignore[call-arg,arg-type,unused-ignore]
    except TypeError:  # packaging < 25 has no lock-file context
        return parsed.evaluate({**env, "extra": ""})


def _pylock(lock: Mapping[str, Any], env: Mapping[str, str], source: LockSource) -> LockedSet:
    origin = source.origin
    version = str(lock.get("lock-version", ""))
    if not version.startswith("1."):
        raise _fail(f"unsupported pylock lock-version {version!r} (1.x is understood)", origin)
    requires = lock.get("requires-python")
    if isinstance(requires, str) and \
            not SpecifierSet(requires).contains(env["python_full_version"], prereleases=True):
        raise _fail(f"the lock requires Python {requires}, this interpreter is "
                    f"{env['python_full_version']}", origin)
    groups = [str(g) for g in lock.get("default-groups") or []]
    packages: dict[str, LockedPackage] = {}
    for entry in lock.get("packages") or []:
        if not isinstance(entry, dict) or "name" not in entry:
            raise _fail("a [[packages]] entry lacks its name", origin)
        marker = entry.get("marker")
        if isinstance(marker, str) and not _pylock_marker(marker, env, groups, origin):
            continue
        name = str(entry["name"])
        hashes: set[str] = set()
        wheels = entry.get("wheels") or []
        for artifact in [*wheels, entry.get("sdist") or {}, entry.get("archive") or {}]:
            for algo, digest in (artifact.get("hashes") or {}).items():
                hashes.add(f"{algo}:{digest}")
        url: str | None = None
        if entry.get("vcs"):
            vcs = entry["vcs"]
            url = f"{vcs.get('type', 'git')}+{vcs.get('url') or vcs.get('path')}" \
                  f"@{vcs.get('commit-id', '')}"
        elif entry.get("directory"):
            url = _local_uri(str(entry["directory"].get("path", "")), source, origin, name)
        elif entry.get("archive"):
            archive = entry["archive"]
            url = str(archive.get("url") or "") or _local_uri(str(archive.get("path", "")),
                                                              source, origin, name)
        key = canonicalize_name(name)
        if key in packages:
            raise _fail(f"two entries for {name} apply to this platform", origin)
        packages[key] = LockedPackage(name, entry.get("version"), tuple(sorted(hashes)),
                                      bool(wheels), url)
        if url is None and not packages[key].version:
            raise _fail(f"package {name} has neither a version nor a source", origin)
    return LockedSet("pylock.toml", origin, tuple(packages[k] for k in sorted(packages)))


def _local_uri(path: str, source: LockSource, origin: str, name: str) -> str:
    target = Path(path)
    if not target.is_absolute():
        if source.base_dir is None:
            raise _fail(f"package {name} comes from the relative path {path}", origin)
        target = (source.base_dir / target).resolve()
    return target.as_uri()


# -- entry --------------------------------------------------------------------------

def _toml(text: str, what: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(f"{what} is not valid TOML: {exc}", origin) from None


def read_lock(source: LockSource, env: Mapping[str, str]) -> LockedSet | None:
    """The locked packages for the marker environment ``env``; None without a lock.

    Raises :class:`EnvBuildError` for a lock that cannot be read or that
    disagrees with ``pyproject.toml``.
    """
    pyproject = _toml(source.pyproject, "pyproject.toml", source.origin) \
        if source.pyproject is not None else {}
    if source.poetry_lock is not None:
        origin = f"{source.origin}/poetry.lock"
        lock = _toml(source.poetry_lock, "poetry.lock", origin)
        try:
            return _poetry_lock(pyproject, lock, env, LockSource(
                origin, source.pyproject, source.poetry_lock, None, source.base_dir))
        except (KeyError, TypeError, AttributeError, InvalidRequirement) as exc:
            raise _fail(f"unexpected structure ({type(exc).__name__}: {exc})", origin) from None
    if source.pylock is not None:
        origin = f"{source.origin}/pylock.toml"
        lock = _toml(source.pylock, "pylock.toml", origin)
        try:
            locked = _pylock(lock, env, LockSource(origin, source.pyproject, None, source.pylock,
                                                   source.base_dir))
        except (KeyError, TypeError, AttributeError, InvalidSpecifier) as exc:
            raise _fail(f"unexpected structure ({type(exc).__name__}: {exc})", origin) from None
        roots = [r for d in _root_deps(pyproject, origin) if not d.optional
                 for r in [d] if not d.marker or _marker_true(d.marker, env, origin)]
        missing = unmet_requirements([_dep_text(d) for d in roots], locked.pins(), env)
        if missing:
            raise _fail("pylock.toml does not satisfy pyproject.toml: " + "; ".join(missing),
                        origin, hint="regenerate pylock.toml from the current pyproject.toml")
        return locked
    return None


def _dep_text(dep: _Dep) -> str:
    spec = ",".join(str(s) for s in poetry_constraint(dep.constraint)[0]) \
        if dep.constraint else ""
    return dep.name + spec


def unmet_requirements(requirements: Iterable[str], installed: Mapping[str, str],
                       env: Mapping[str, str], *, what: str = "locked") -> list[str]:
    """Which PEP 508 requirements (markers true here) ``installed`` does not satisfy.

    ``what`` words the messages: the set is what is "locked" or "installed".
    """
    problems: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"invalid requirement {text!r}: {exc}")
            continue
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        have = installed.get(canonicalize_name(req.name))
        if have is None:
            problems.append(f"{text}: {req.name} is not {what}")
        elif req.specifier and not _version_in(have, req.specifier):
            problems.append(f"{text}: {req.name} {have} is {what}")
    return problems


def _version_in(version: str, spec: SpecifierSet) -> bool:
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # a direct reference (URL): the spec cannot be checked, trust the lock
