"""The "current" env provider: run a plugin under the host's own interpreter.

Why it exists beside the isolated provider (``vcs_conformance.envs``): a
plugin author iterating on a project wants the reference host to pick up
their source tree as it is, without building a wheel and a virtualenv on
every run; and the kit's own tests load fixture plugins this way.  So a
project directory runs from its source root (the entry point is read from
``pyproject.toml``), a wheel is unpacked (it is a zip of importable files
and its ``.dist-info``), an sdist is unpacked and treated as a project, and
a bare name is left to the worker's ``importlib.metadata`` discovery, in
the interpreter that will run the plugin.

The provider seam: ``prepare(handle, scratch=dir) -> PluginEnv``; anything
it unpacks goes under ``scratch``, which the host removes when it closes.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ._api import ENTRY_POINT_GROUP, MANIFEST_NAME
from ._seams import PluginEnv
from .errors import PluginLoadError

__all__ = ["CurrentEnvProvider", "EnvProvider", "ProjectInfo", "read_project"]


class EnvProvider(Protocol):
    """Turns a plugin handle into a :class:`PluginEnv` (interpreter and import roots)."""

    def prepare(self, handle: str | os.PathLike[str], *, scratch: Path) -> PluginEnv: ...


class ProjectInfo:
    """What ``pyproject.toml`` says about a plugin project (no build, no import)."""

    def __init__(self, root: Path, dist_name: str | None, entry_point: str, module: str,
                 source_root: Path) -> None:
        self.root = root
        self.dist_name = dist_name
        self.entry_point = entry_point
        self.module = module
        self.source_root = source_root

    @property
    def manifest_path(self) -> Path:
        top = self.module.split(".", maxsplit=1)[0]
        return self.source_root / top / MANIFEST_NAME


def _fail(message: str, handle: object, hint: str | None = None) -> PluginLoadError:
    return PluginLoadError(f"{handle}: {message}", hint=hint, details={"stage": "discover"})


def _entry_points(data: dict[str, Any]) -> dict[str, str]:
    project = data.get("project") or {}
    found = dict((project.get("entry-points") or {}).get(ENTRY_POINT_GROUP) or {})
    poetry = (data.get("tool") or {}).get("poetry") or {}
    found.update((poetry.get("plugins") or {}).get(ENTRY_POINT_GROUP) or {})
    return {str(k): str(v) for k, v in found.items()}


def _source_roots(root: Path, data: dict[str, Any]) -> list[Path]:
    """Where packages may live: declared ``from``/``package-dir`` roots, ``src/``, the root."""
    roots: list[Path] = []
    tool = data.get("tool") or {}
    for pkg in (tool.get("poetry") or {}).get("packages") or []:
        if isinstance(pkg, dict) and isinstance(pkg.get("from"), str):
            roots.append(root / pkg["from"])
    package_dir = (tool.get("setuptools") or {}).get("package-dir") or {}
    if isinstance(package_dir.get(""), str):
        roots.append(root / package_dir[""])
    for pkg in ((tool.get("hatch") or {}).get("build", {}).get("targets", {})
                .get("wheel", {}).get("packages") or []):
        if isinstance(pkg, str) and "/" in pkg:
            roots.append(root / pkg.rsplit("/", 1)[0])
    roots += [root / "src", root]
    return roots


def read_project(root: Path) -> ProjectInfo:
    """Entry point, module and source root of the project at ``root``."""
    pyproject = root / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail("no pyproject.toml: a project directory needs one", root) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _fail(f"pyproject.toml is not valid TOML: {exc}", root) from None
    points = _entry_points(data)
    if len(points) != 1:
        listed = ", ".join(f"{k} = {v}" for k, v in points.items()) or "none"
        raise _fail(f"pyproject.toml declares {len(points)} {ENTRY_POINT_GROUP!r} entry points "
                    f"({listed}); exactly one is required", root,
                    hint=f'add [project.entry-points."{ENTRY_POINT_GROUP}"] '
                    'your-plugin = "your_package.plugin"')
    (name, value), = points.items()
    module = value.partition(":")[0].strip()
    top = module.split(".", maxsplit=1)[0]
    for candidate in _source_roots(root, data):
        if (candidate / top / "__init__.py").is_file() or (candidate / f"{top}.py").is_file():
            source_root = candidate
            break
    else:
        raise _fail(f"the entry point's package {top!r} is neither in src/ nor at the project "
                    "root", root)
    dist = (data.get("project") or {}).get("name") or \
        ((data.get("tool") or {}).get("poetry") or {}).get("name")
    return ProjectInfo(root, str(dist) if dist else None, name, module, source_root.resolve())


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _unpack_wheel(wheel: Path, scratch: Path) -> Path:
    target = scratch / f"wheel-{wheel.stem}"
    try:
        with zipfile.ZipFile(wheel) as zf:
            bad = [n for n in zf.namelist() if not _safe_member(n)]
            if bad:
                raise _fail(f"unsafe member {bad[0]!r} in the wheel", wheel)
            zf.extractall(target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(f"not a readable wheel: {exc}", wheel) from None
    return target


def _wheel_entry(root: Path, wheel: Path) -> tuple[str, str, str | None]:
    infos = sorted(root.glob("*.dist-info"))
    if len(infos) != 1:
        raise _fail(f"{len(infos)} .dist-info directories in the wheel, expected 1", wheel)
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(infos[0] / "entry_points.txt", encoding="utf-8")
    points = dict(parser[ENTRY_POINT_GROUP]) if parser.has_section(ENTRY_POINT_GROUP) else {}
    if len(points) != 1:
        raise _fail(f"the wheel declares {len(points)} {ENTRY_POINT_GROUP!r} entry points; "
                    "exactly one is required", wheel)
    (name, value), = points.items()
    dist = infos[0].name.removesuffix(".dist-info").rsplit("-", 1)[0]
    return name, value.partition(":")[0].strip(), dist


def _unpack_sdist(sdist: Path, scratch: Path) -> Path:
    stem = re.sub(r"\.(tar\.gz|tgz|tar\.bz2|tar\.xz|tar|zip)$", "", sdist.name)
    target = scratch / f"sdist-{stem}"
    try:
        if sdist.suffix == ".zip":
            with zipfile.ZipFile(sdist) as zf:
                if not all(_safe_member(n) for n in zf.namelist()):
                    raise _fail("unsafe member in the sdist", sdist)
                zf.extractall(target)
        else:
            with tarfile.open(sdist) as tf:
                tf.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise _fail(f"not a readable sdist: {exc}", sdist) from None
    projects = [p.parent for p in target.glob("*/pyproject.toml")] or \
        ([target] if (target / "pyproject.toml").is_file() else [])
    if len(projects) != 1:
        raise _fail("the sdist holds no single project directory with a pyproject.toml", sdist)
    return projects[0]


class CurrentEnvProvider:
    """Plugins run under ``sys.executable``: fast, no isolation of dependencies."""

    kind = "current"

    def __init__(self, python: str | os.PathLike[str] | None = None) -> None:
        self.python = Path(python) if python is not None else Path(sys.executable)

    def _env(self, sys_path: tuple[Path, ...] = (), **known: Any) -> PluginEnv:
        prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
        return PluginEnv(python=self.python, readonly_paths=(*sorted(prefixes), *sys_path),
                         sys_path=sys_path, kind="current",
                         info={"python": sys.version.split()[0], "installer": "-",
                               "cache_hit": False, "timings": {}}, **known)

    def prepare(self, handle: str | os.PathLike[str], *, scratch: Path) -> PluginEnv:
        path = Path(handle)
        text = os.fspath(handle)
        if not path.exists():
            if "/" in text or text.endswith((".whl", ".tar.gz", ".zip")):
                raise _fail("no such file or directory", text)
            env = self._env(entry_point=text)
            extra = _installed_locations(text)
            if extra:  # an editable install lives outside site-packages: expose it read-only
                return dataclasses.replace(env, readonly_paths=(*env.readonly_paths, *extra))
            return env
        path = path.resolve()
        if path.is_dir():
            return self._project(read_project(path))
        if path.suffix == ".whl":
            root = _unpack_wheel(path, scratch)
            name, module, dist = _wheel_entry(root, path)
            top = module.split(".", maxsplit=1)[0]
            return self._env((root,), dist_name=dist, entry_point=name, entry_module=module,
                             manifest_path=root / top / MANIFEST_NAME)
        if path.name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")):
            return self._project(read_project(_unpack_sdist(path, scratch)))
        raise _fail("not a project directory, wheel (.whl) or sdist (.tar.gz)", text)

    def _project(self, info: ProjectInfo) -> PluginEnv:
        return self._env((info.source_root,), dist_name=info.dist_name,
                         entry_point=info.entry_point, entry_module=info.module,
                         manifest_path=info.manifest_path)


def _installed_locations(name: str) -> tuple[Path, ...]:
    """Directories holding the package of installed plugin ``name`` (outside the prefixes).

    An editable install puts its source on ``sys.path`` through a ``.pth``
    file; the sandbox must see that source directory, read-only, or the
    worker cannot import what the host's ``importlib.metadata`` found.
    """
    from importlib import metadata
    from importlib.util import find_spec

    from packaging.utils import canonicalize_name

    wanted = canonicalize_name(name)
    prefixes = (Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve())
    found: list[Path] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ""
        if ep.name != name and canonicalize_name(dist) != wanted:
            continue
        top = ep.value.split(":", 1)[0].strip().split(".", 1)[0]
        try:
            spec = find_spec(top)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            parent = Path(location).resolve().parent
            if not any(parent.is_relative_to(p) for p in prefixes):
                found.append(parent)
    return tuple(dict.fromkeys(found))

