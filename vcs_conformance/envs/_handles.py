"""From a plugin handle (project dir, sdist, wheel, installed name) to one wheel.

Why always a wheel: what a user installs is the built wheel, so the env is
built from it, and ``manifest-present`` inspects the same file.  Building
costs 0.7-1 s, so a project or sdist is built once per content: the wheel is
kept in the cache under a hash of the source tree (or sdist bytes) and
reused, which also keeps the env cache key (the wheel's bytes) stable
across runs even though wheel builds are not byte-reproducible.

An installed distribution cannot be turned back into a wheel from its
installed files; an editable install knows its source directory (PEP 610
``direct_url.json``) and is rebuilt from there, a non-editable one only when
it was installed from a local wheel or sdist that still exists.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from filelock import FileLock

from .._api import ENTRY_POINT_GROUP, MANIFEST_NAME
from ..errors import EnvBuildError
from ._install import PythonInfo, Tools, run_tool
from ._locks import LockSource

__all__ = ["Handle", "WheelFacts", "classify", "inspect_wheel", "obtain_wheel", "sha256_file"]

#: Directories never part of a plugin's source (VCS, caches, build output, envs).
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".nox", ".tox", "__pycache__",
                        ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist",
                        "node_modules", ".idea", ".vscode"})


@dataclass(frozen=True)
class Handle:
    """A classified handle: what it is and what to build from."""

    kind: str  # "project", "sdist", "wheel"
    display: str
    path: Path
    #: How the handle was reached (``installed <name>`` for an installed dist).
    via: str = ""


@dataclass(frozen=True)
class WheelFacts:
    """What the env needs to know from the wheel itself."""

    path: Path
    sha256: str
    dist_name: str
    version: str
    requires_dist: tuple[str, ...]
    entry_point: str | None
    entry_module: str | None
    #: ``<package>/vcs_plugin.yaml`` inside the wheel.
    manifest_member: str


def _fail(message: str, stage: str, hint: str | None = None) -> EnvBuildError:
    return EnvBuildError(message, hint=hint, details={"stage": stage})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_sdist(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz", ".zip")) and path.is_file()


def classify(handle: str | os.PathLike[str]) -> Handle:
    """Project dir, sdist, wheel, or the name of an installed distribution/entry point."""
    path = Path(handle)
    if path.is_dir():
        if not (path / "pyproject.toml").is_file():
            raise _fail(f"{path} is a directory without pyproject.toml: not a project",
                        "handle", hint="pass the project root (where pyproject.toml is)")
        return Handle("project", str(path), path.resolve())
    if path.is_file():
        if path.suffix == ".whl":
            return Handle("wheel", str(path), path.resolve())
        if _is_sdist(path):
            return Handle("sdist", str(path), path.resolve())
        raise _fail(f"{path} is neither a wheel (.whl) nor an sdist (.tar.gz/.zip)", "handle")
    if isinstance(handle, str) and os.sep not in handle and not handle.endswith(".whl"):
        return _installed(handle)
    raise _fail(f"{handle}: no such file or directory", "handle")


def _installed(name: str) -> Handle:
    dist: metadata.Distribution | None = None
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name and ep.dist is not None:
                dist = ep.dist
                break
    if dist is None:
        raise _fail(f"{name!r} is not a path, an installed distribution or a "
                    f"{ENTRY_POINT_GROUP!r} entry point", "handle",
                    hint="pass a project directory, an sdist, a wheel or an installed name")
    text = dist.read_text("direct_url.json")
    via = f"installed {dist.metadata['Name']} {dist.version}"
    if text:
        try:
            direct = json.loads(text)
            url = urlparse(str(direct.get("url", "")))
        except (ValueError, AttributeError):
            direct, url = {}, urlparse("")
        if url.scheme == "file":
            source = Path(unquote(url.path))
            if source.is_dir() and (source / "pyproject.toml").is_file():
                return Handle("project", str(source), source.resolve(), via=via)
            if source.is_file() and source.suffix == ".whl":
                return Handle("wheel", str(source), source.resolve(), via=via)
            if _is_sdist(source):
                return Handle("sdist", str(source), source.resolve(), via=via)
    raise _fail(f"{via} was not installed from a local source that still exists (no editable "
                "PEP 610 direct_url.json pointing at a project, wheel or sdist), and an "
                "installed distribution cannot be rebuilt into a wheel", "handle",
                hint="pass the plugin's project directory, sdist or wheel, or install it "
                "editable (pip install -e DIR)")


def _tree_digest(root: Path) -> str:
    """Content hash of a source tree: paths, exec bits and bytes of every file."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            try:
                mode = full.stat().st_mode
                data = full.read_bytes()
            except OSError:
                continue
            digest.update(f"{rel}\0{mode & 0o111:o}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def lock_source(handle: Handle) -> LockSource | None:
    """The ``pyproject.toml`` and lock beside it, from a project dir or inside an sdist."""
    if handle.kind == "project":
        def read(name: str) -> str | None:
            target = handle.path / name
            return target.read_text(encoding="utf-8") if target.is_file() else None
        return LockSource(handle.display, read("pyproject.toml"), read("poetry.lock"),
                          read("pylock.toml"), handle.path)
    if handle.kind == "sdist" and handle.path.name.endswith((".tar.gz", ".tgz")):
        texts: dict[str, str] = {}
        try:
            with tarfile.open(handle.path) as tar:
                for member in tar.getmembers():
                    parts = member.name.split("/")
                    if len(parts) == 2 and parts[1] in ("pyproject.toml", "poetry.lock",
                                                        "pylock.toml") and member.isfile():
                        extracted = tar.extractfile(member)
                        if extracted is not None:
                            texts[parts[1]] = extracted.read().decode("utf-8")
        except (tarfile.TarError, OSError, UnicodeDecodeError, EOFError) as exc:
            raise _fail(f"{handle.display}: cannot read the sdist: {exc}", "handle") from None
        return LockSource(handle.display, texts.get("pyproject.toml"), texts.get("poetry.lock"),
                          texts.get("pylock.toml"), None)
    return None


def obtain_wheel(handle: Handle, *, cache_dir: Path, tools: Tools, python: PythonInfo,
                 offline: bool, find_links: tuple[Path, ...]) -> tuple[Path, float]:
    """The wheel for ``handle`` and the seconds spent building it (0 when reused)."""
    if handle.kind == "wheel":
        return handle.path, 0.0
    key = _tree_digest(handle.path) if handle.kind == "project" else sha256_file(handle.path)
    wheels = cache_dir / "wheels"
    final = wheels / key[:32]
    found = sorted(final.glob("*.whl")) if final.is_dir() else []
    if found:
        with contextlib.suppress(OSError):
            os.utime(final)  # last use, for `cache prune --older-than`
        return found[0], 0.0
    wheels.mkdir(parents=True, exist_ok=True)
    with FileLock(str(wheels / f"{key[:32]}.lock")):
        found = sorted(final.glob("*.whl")) if final.is_dir() else []
        if found:
            return found[0], 0.0
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".building-{key[:32]}-", dir=wheels))
        try:
            _build(handle, tmp / "out", tools=tools, python=python, offline=offline,
                   find_links=find_links, scratch=tmp)
            built = sorted((tmp / "out").glob("*.whl"))
            if len(built) != 1:
                raise _fail(f"building {handle.display} produced {len(built)} wheels, "
                            "expected one", "build")
            (tmp / "keep").mkdir()
            os.replace(built[0], tmp / "keep" / built[0].name)
            os.replace(tmp / "keep", final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final / built[0].name, time.perf_counter() - started


def _build(handle: Handle, out: Path, *, tools: Tools, python: PythonInfo, offline: bool,
           find_links: tuple[Path, ...], scratch: Path) -> None:
    what = f"building a wheel from {handle.display}"
    if tools.installer == "uv":
        assert tools.uv is not None
        cmd = [tools.uv, "build", "--wheel", "--no-progress", "--python",
               str(python.executable), "--out-dir", str(out)]
        if offline:
            cmd += ["--offline", "--no-index"]
        for link in find_links:
            cmd += ["--find-links", str(link)]
        run_tool([*cmd, str(handle.path)], stage="build", what=what, cwd=scratch)
        return
    source = handle.path
    if handle.kind == "sdist":
        source = _unpack_sdist(handle.path, scratch / "src")
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": " ".join(map(str, find_links))} \
        if offline else {}
    run_tool([tools.host_python, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
             stage="build", what=what, cwd=scratch, env=env)


def _unpack_sdist(sdist: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    try:
        if sdist.suffix == ".zip":
            with zipfile.ZipFile(sdist) as zf:
                for name in zf.namelist():
                    if name.startswith("/") or ".." in name.split("/"):
                        raise _fail(f"{sdist}: unsafe member {name!r}", "build")
                zf.extractall(dest)
        else:
            with tarfile.open(sdist) as tar:
                tar.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _fail(f"{sdist}: cannot unpack the sdist: {exc}", "build") from None
    roots = [p for p in dest.iterdir() if p.is_dir()]
    if len(roots) != 1 or not (roots[0] / "pyproject.toml").is_file():
        raise _fail(f"{sdist}: expected one top directory with pyproject.toml", "build")
    return roots[0]


def inspect_wheel(path: Path) -> WheelFacts:
    """Metadata, the ``vcs.plugins`` entry point and the manifest's place in a wheel.

    A corrupt wheel and a wheel without a manifest are :class:`EnvBuildError`.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise _fail(f"{path}: the wheel is corrupt (bad CRC in {bad})", "wheel")
            names = zf.namelist()
            infos = [n for n in names if n.count("/") == 1 and n.split("/")[0]
                     .endswith(".dist-info")]
            meta = [n for n in infos if n.endswith("/METADATA")]
            if len(meta) != 1:
                raise _fail(f"{path}: not a wheel: expected one *.dist-info/METADATA, found "
                            f"{len(meta)}", "wheel")
            headers = HeaderParser().parsestr(zf.read(meta[0]).decode("utf-8", "replace"))
            eps_name = meta[0].rsplit("/", 1)[0] + "/entry_points.txt"
            eps_text = zf.read(eps_name).decode("utf-8") if eps_name in names else ""
    except zipfile.BadZipFile as exc:
        raise _fail(f"{path}: the wheel is corrupt: {exc}", "wheel",
                    hint="rebuild the wheel; a truncated download or copy does this") from None
    except (OSError, EOFError) as exc:
        raise _fail(f"{path}: cannot read the wheel: {exc}", "wheel") from None
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise _fail(f"{path}: METADATA lacks Name or Version", "wheel")
    entry_point = entry_module = None
    if eps_text:
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(eps_text)
        except configparser.Error as exc:
            raise _fail(f"{path}: entry_points.txt cannot be parsed: {exc}", "wheel") from None
        if parser.has_section(ENTRY_POINT_GROUP):
            items = parser.items(ENTRY_POINT_GROUP)
            if len(items) == 1:
                entry_point = items[0][0]
                entry_module = items[0][1].partition(":")[0].strip()
    if entry_module is not None:
        member = f"{entry_module.split('.')[0]}/{MANIFEST_NAME}"
        members = [member] if member in names else []
        where = f"{member} (beside the entry module's package __init__.py)"
    else:
        members = [n for n in names if n.count("/") == 1 and n.endswith("/" + MANIFEST_NAME)]
        where = f"<package>/{MANIFEST_NAME}"
    if len(members) != 1:
        raise _fail(f"{path}: the wheel has no {MANIFEST_NAME}: expected {where}", "wheel",
                    hint=f"make the build include {MANIFEST_NAME} as package data")
    requires = tuple(headers.get_all("Requires-Dist") or ())
    return WheelFacts(path, sha256_file(path), name, version, requires, entry_point,
                      entry_module, members[0])
