"""Find a plugin's manifest in a file, package dir, project dir or wheel (SPEC 2).

The manifest lies in the root of the top-level import package that holds the
entry module.  Projects and wheels name that module in their ``vcs.plugins``
entry point, so we follow it; without one we accept a single
``<package>/vcs_plugin.yaml`` and say so when there are several.
"""

from __future__ import annotations

import configparser
import tomllib
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from ._api import ENTRY_POINT_GROUP, MANIFEST_NAME
from .errors import Problem

MAX_BYTES = 1024 * 1024


@dataclass
class ManifestSource:
    """Where a manifest was found; reads files beside it (``config_schema``)."""

    display: str
    text: bytes | None = None
    problem: Problem | None = None
    directory: Path | None = None
    wheel: Path | None = None
    member_dir: str = ""
    entry_points: dict[str, str] = field(default_factory=dict)
    #: True when the source itself could not be read (CLI exit 2, not 1).
    unreadable: bool = False
    #: The distribution's own name and version, when the source says them.
    dist_name: str | None = None
    dist_version: str | None = None

    def read_sibling(self, rel: str) -> bytes | None:
        """A file beside the manifest, confined to the package; None if absent."""
        parts = PurePosixPath(rel).parts
        if not parts or ".." in parts or PurePosixPath(rel).is_absolute():
            return None
        if self.directory is not None:
            target = self.directory.joinpath(*parts)
            try:
                if not target.resolve().is_relative_to(self.directory.resolve()):
                    return None
                if target.is_file() and target.stat().st_size <= MAX_BYTES:
                    return target.read_bytes()
            except OSError:
                return None
            return None
        if self.wheel is not None:
            try:
                with zipfile.ZipFile(self.wheel) as zf:
                    info = zf.getinfo(f"{self.member_dir}/{rel}")
                    if info.file_size > MAX_BYTES:
                        return None
                    return zf.read(info)
            except (KeyError, OSError, zipfile.BadZipFile):
                return None
        return None


def _fail(display: str, message: str, hint: str | None = None, *,
          unreadable: bool = False) -> ManifestSource:
    return ManifestSource(display, problem=Problem(message, "", None, None, hint, display),
                          unreadable=unreadable)


def _read(path: Path, display: str, directory: Path) -> ManifestSource:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return _fail(display, f"the manifest is {size} bytes; at most {MAX_BYTES} allowed")
        return ManifestSource(display, text=path.read_bytes(), directory=directory)
    except OSError as exc:
        return _fail(display, f"cannot read the manifest: {exc.strerror or exc}", unreadable=True)


def locate_manifest(path: Path) -> ManifestSource:
    """Resolve any supported source to the manifest's bytes, or one problem."""
    display = str(path)
    if not path.exists():
        return _fail(display, "no such file or directory", unreadable=True)
    if path.is_dir():
        if (path / MANIFEST_NAME).is_file():
            return _read(path / MANIFEST_NAME, str(path / MANIFEST_NAME), path)
        if (path / "pyproject.toml").is_file():
            return _from_project(path)
        return _fail(display, f"neither a package directory with {MANIFEST_NAME} nor a project "
                     "directory with pyproject.toml")
    if path.suffix == ".whl":
        return _from_wheel(path)
    return _read(path, display, path.parent)


def project_entry_points(pyproject: Path) -> tuple[dict[str, str], str | None]:
    """``vcs.plugins`` entry points declared in a pyproject (PEP 621 or Poetry)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"cannot read {pyproject}: {exc}"
    project = data.get("project", {})
    eps = project.get("entry-points", {}).get(ENTRY_POINT_GROUP)
    if eps is None:
        eps = data.get("tool", {}).get("poetry", {}).get("plugins", {}).get(ENTRY_POINT_GROUP)
    if not isinstance(eps, dict):
        return {}, None
    return {str(k): str(v) for k, v in eps.items()}, None


def project_identity(pyproject: Path) -> tuple[str | None, str | None]:
    """Static ``name`` and ``version`` of a project (PEP 621, else Poetry's table)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None, None
    for table in (data.get("project", {}), data.get("tool", {}).get("poetry", {})):
        name, version = table.get("name"), table.get("version")
        if isinstance(name, str):
            return name, version if isinstance(version, str) else None
    return None, None


def _top_package(value: str) -> str:
    return value.split(":", 1)[0].strip().split(".", 1)[0]


def _from_project(root: Path) -> ManifestSource:
    eps, error = project_entry_points(root / "pyproject.toml")
    if error:
        return _fail(str(root / "pyproject.toml"), error, unreadable=True)
    candidates: list[Path] = []
    if eps:
        for value in eps.values():
            top = _top_package(value)
            candidates += [root / top, root / "src" / top]
    else:
        candidates = [p.parent for p in [*root.glob(f"*/{MANIFEST_NAME}"),
                                         *root.glob(f"src/*/{MANIFEST_NAME}")]]
    found = [c for c in dict.fromkeys(candidates) if (c / MANIFEST_NAME).is_file()]
    if len(found) == 1:
        src = _read(found[0] / MANIFEST_NAME, str(found[0] / MANIFEST_NAME), found[0])
        src.entry_points = eps
        src.dist_name, src.dist_version = project_identity(root / "pyproject.toml")
        return src
    if len(found) > 1:
        return _fail(str(root), "several manifests found: " + ", ".join(map(str, found)),
                     "a distribution has exactly one vcs.plugins entry point and one manifest")
    where = (f"the package of entry point {next(iter(eps.values()))!r}" if eps
             else "any top-level package (and pyproject.toml declares no vcs.plugins entry point)")
    return _fail(str(root), f"no {MANIFEST_NAME} in {where}",
                 f"put {MANIFEST_NAME} beside the package's __init__.py")


def _from_wheel(path: Path) -> ManifestSource:
    display = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            ep_files = [n for n in names if n.count("/") == 1
                        and n.endswith(".dist-info/entry_points.txt")]
            eps: dict[str, str] = {}
            if ep_files:
                parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
                parser.optionxform = str  # type: ignore[assignment,method-assign]
                try:
                    parser.read_string(zf.read(ep_files[0]).decode("utf-8"))
                except (configparser.Error, UnicodeDecodeError) as exc:
                    return _fail(f"{display}!{ep_files[0]}", f"unreadable entry_points.txt: {exc}")
                if parser.has_section(ENTRY_POINT_GROUP):
                    eps = dict(parser.items(ENTRY_POINT_GROUP))
            if eps:
                tops = {_top_package(v) for v in eps.values()}
            else:
                tops = {n.split("/")[0] for n in names
                        if n.count("/") == 1 and n.endswith("/" + MANIFEST_NAME)}
            members = [f"{t}/{MANIFEST_NAME}" for t in sorted(tops)
                       if f"{t}/{MANIFEST_NAME}" in names]
            if len(members) != 1:
                what = "no" if not members else "more than one"
                return _fail(display, f"{what} {MANIFEST_NAME} at the root of the entry "
                             f"module's package in the wheel (looked for: "
                             f"{', '.join(f'{t}/{MANIFEST_NAME}' for t in sorted(tops)) or '-'})",
                             "ship the manifest as package data beside __init__.py")
            info = zf.getinfo(members[0])
            if info.file_size > MAX_BYTES:
                return _fail(f"{display}!{members[0]}", "the manifest is too large")
            name, version = _wheel_identity(zf, names)
            return ManifestSource(f"{display}!{members[0]}", text=zf.read(info), wheel=path,
                                  member_dir=members[0].split("/")[0], entry_points=eps,
                                  dist_name=name, dist_version=version)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return _fail(display, f"not a readable wheel (zip) file: {exc}", unreadable=True)


def _wheel_identity(zf: zipfile.ZipFile, names: list[str]) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the wheel's ``METADATA`` (RFC 822 headers)."""
    meta = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if not meta:
        return None, None
    try:
        headers = HeaderParser().parsestr(zf.read(meta[0]).decode("utf-8", "replace"))
    except (OSError, zipfile.BadZipFile):
        return None, None
    return headers.get("Name"), headers.get("Version")
