"""Load and validate ``vcs_plugin.yaml`` (SPEC section 2), collecting every problem.

Why all problems at once: a plugin author fixing a manifest in CI should not
need one round trip per mistake.  Each :class:`~vcs_conformance.errors.Problem`
carries a JSON pointer, the ``file:line:column`` it came from and, where one
helps, a hint (``api_version: 1.10`` is the float 1.1 to YAML: quote it).

The structure is checked by the JSON Schema of the declared ``api_version``
(``schemas/<api>/manifest.schema.json``); what JSON Schema cannot say (PEP
440 versions and specifiers, PEP 508 requirements, PEP 503 names, a valid
``config_schema``) is checked here.
"""

from __future__ import annotations

import difflib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import schemas
from ._api import KNOWN_API_VERSIONS, MANIFEST_NAME
from ._sources import ManifestSource, locate_manifest
from ._yaml import Located, escape, load_located
from .errors import ManifestError, Problem

__all__ = [
    "Manifest",
    "ManifestError",
    "SystemDependency",
    "check_identity",
    "load_manifest",
    "load_manifest_source",
    "parse_manifest",
]

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SystemDependency:
    """One ``dependencies.system`` entry: a binary or library and its packages."""

    name: str
    kind: str = "binary"
    packages: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; ``raw`` keeps the document as written."""

    name: str
    version: str
    description: str
    api_version: str
    core_version: SpecifierSet | None = None
    platforms: tuple[str, ...] | None = None
    python_dependencies: tuple[str, ...] = ()
    system_dependencies: tuple[SystemDependency, ...] = ()
    network: bool = False
    resources: Mapping[str, float] = field(default_factory=dict)
    config_schema: Mapping[str, Any] | None = None
    voices: tuple[str, ...] | None = None
    sample_rates: tuple[int, ...] | None = None
    path: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def normalized_name(self) -> str:
        return canonicalize_name(self.name)


def load_manifest(source: str | Path) -> Manifest:
    """Load from a manifest file, a package dir, a project dir or a built wheel.

    Raises :class:`ManifestError` listing every problem; never anything else
    for a bad manifest.
    """
    return load_manifest_source(Path(source))[0]


def load_manifest_source(source: Path) -> tuple[Manifest, ManifestSource]:
    """Like :func:`load_manifest`, also returning where it came from.

    A source that cannot be read at all raises a ``ManifestError`` whose
    ``details["unreadable"]`` is true (the CLI's exit 2).
    """
    located = locate_manifest(source)
    if located.problem is not None:
        err = ManifestError([located.problem], file=located.display)
        err.details["unreadable"] = located.unreadable
        raise err
    assert located.text is not None
    return parse_manifest(located.text, file=located.display, source=located), located


def parse_manifest(
    text: str | bytes, *, file: str | None = None, source: ManifestSource | None = None
) -> Manifest:
    """Validate manifest text; ``source`` resolves a package-relative ``config_schema``."""
    name = file or MANIFEST_NAME
    if isinstance(text, bytes):
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestError([Problem(f"the file is {len(text)} bytes; a manifest is at most "
                                         f"{MAX_MANIFEST_BYTES}", file=name)], file=name)
        raw_bytes = text
        try:
            text = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw_bytes[: exc.start].count(b"\n") + 1
            raise ManifestError([Problem(
                f"not UTF-8: byte 0x{raw_bytes[exc.start]:02x} at offset {exc.start} cannot be "
                "decoded",
                "", line, None, "save the file as UTF-8", name)], file=name) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    loc, problems = load_located(text, file=name)
    if loc is None:
        raise ManifestError(problems, file=name)
    if not isinstance(loc.data, dict):
        kind = type(loc.data).__name__ if loc.data is not None else "nothing"
        problems.append(Problem(f"expected a mapping of manifest fields, saw {kind}", "", 1, 1,
                                None, name))
        raise ManifestError(problems, file=name)
    problems.extend(_schema_problems(loc, name))
    problems.extend(_semantic_problems(loc, name, source))
    if problems:
        raise ManifestError(_dedupe(problems), file=name,
                            plugin=loc.data.get("name") if isinstance(loc.data.get("name"), str)
                            else None)
    return _build(loc.data, name, source)


def check_identity(manifest: Manifest, dist_name: str, dist_version: str) -> list[Problem]:
    """SPEC ``manifest-identity``: name and version equal the distribution's."""
    problems = []
    if canonicalize_name(manifest.name) != canonicalize_name(dist_name):
        problems.append(Problem(
            f"name {manifest.name!r} is not the distribution's name {dist_name!r} "
            "(compared PEP 503-normalised)", "/name", hint=f"set name: {dist_name}",
            file=manifest.path))
    try:
        same = Version(manifest.version) == Version(dist_version)
    except InvalidVersion:
        same = manifest.version == dist_version
    if not same:
        problems.append(Problem(
            f"version {manifest.version!r} is not the distribution's version {dist_version!r}",
            "/version", hint=f"set version: \"{dist_version}\"", file=manifest.path))
    return problems


# -- schema -------------------------------------------------------------------

def _schema_problems(loc: Located, file: str) -> list[Problem]:
    data = loc.data
    api = data.get("api_version")
    problems: list[Problem] = []
    if isinstance(api, str) and api in KNOWN_API_VERSIONS:
        validator = schemas.validator("manifest", api)
    elif isinstance(api, str) and is_future_api(api):
        validator = schemas.validator("manifest")  # SPEC 1 decides: incompatible, not invalid
    else:
        validator = schemas.validator("manifest")  # the common structure
        problems.extend(_api_version_problems(loc, file))
    for key in data:
        if not isinstance(key, str):
            pointer = "/" + escape(str(key))
            line, col = loc.where(pointer, key=True)
            problems.append(Problem(f"key {key!r} is not a string", pointer, line, col,
                                    f'quote the key: "{key}"', file))
    json_safe = {k: v for k, v in data.items() if isinstance(k, str)}
    reported_api = bool(problems)
    for error in sorted(validator.iter_errors(json_safe), key=lambda e: list(map(str, e.path))):
        if reported_api and list(error.absolute_path) == ["api_version"]:
            continue  # already explained with a better hint
        problems.extend(_explain(error, loc, file))
    return problems


def is_future_api(api: str) -> bool:
    """A well-formed ``MAJOR.MINOR`` newer than every API this kit knows.

    Such a manifest is not *invalid*: a core too old for it says
    "incompatible (needs-newer-core / major-mismatch)" and skips it (SPEC 1),
    which is what a plugin author targeting a newer core expects to see.
    An unknown version older than the newest known one never existed, and
    is an error.
    """
    parts = api.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return False
    newest = max(tuple(int(x) for x in v.split(".")) for v in KNOWN_API_VERSIONS)
    return (int(parts[0]), int(parts[1])) > newest


def _api_version_problems(loc: Located, file: str) -> list[Problem]:
    api = loc.data.get("api_version")
    if "api_version" not in loc.data:
        return []  # the schema reports the missing required field
    line, col = loc.where("/api_version")
    raw = loc.raw.get("/api_version", str(api))
    known = ", ".join(f'"{v}"' for v in KNOWN_API_VERSIONS)
    if isinstance(api, (int, float)) and not isinstance(api, bool):
        return [Problem(
            f"api_version is the number {api!r}, not a string: YAML reads {raw} as a number "
            f"(1.10 would become 1.1)", "/api_version", line, col,
            f'quote it: api_version: "{raw}"', file)]
    if isinstance(api, str):
        return [Problem(f"api_version {api!r} is not a known plugin API version (known: {known}; "
                        "a newer MAJOR.MINOR is accepted and left to the core to refuse)",
                        "/api_version", line, col,
                        "target one of the known versions", file)]
    return []  # other types are reported by the schema


def _explain(error: ValidationError, loc: Located, file: str) -> list[Problem]:
    pointer = "".join("/" + escape(str(p)) for p in error.absolute_path)
    line, col = loc.where(pointer)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        out = []
        for key in error.instance:
            if key in allowed or (isinstance(key, str) and key.startswith("x-")):
                continue
            child = f"{pointer}/{escape(str(key))}"
            kline, kcol = loc.where(child, key=True)
            close = difflib.get_close_matches(str(key), allowed, n=1)
            advice = (f"did you mean {close[0]!r}?" if close
                      else "custom keys must start with 'x-'")
            out.append(Problem(f"unknown key {key!r}", child, kline, kcol, advice, file))
        return out
    if error.validator == "required":
        return [Problem(error.message.replace("is a required property",
                                              "is required but missing"),
                        pointer, line, col, None, file)]
    if error.validator == "const" and pointer == "/api_version":
        return []  # cannot happen: the schema is chosen by api_version
    hint: str | None = None
    if error.validator == "type" and "string" in _as_list(error.validator_value):
        raw = loc.raw.get(pointer)
        if raw is not None and not isinstance(error.instance, (dict, list)):
            hint = f'quote it: "{raw}"'
    if error.validator == "oneOf" and pointer == "/config_schema":
        return [Problem("config_schema must be a JSON Schema object or a package-relative "
                        "path ending in .json", pointer, line, col, None, file)]
    field_name = pointer or "the manifest"
    if error.validator in ("pattern", "minLength", "maxLength") and pointer in _FIELD_RULES:
        message = f"{field_name}: {_short(error.instance)} {_FIELD_RULES[pointer]}"
    else:
        message = f"{field_name}: {error.message}"
        if isinstance(error.instance, str) and len(error.instance) > 60:
            message = message.replace(repr(error.instance), _short(error.instance))
    return [Problem(message, pointer, line, col, hint, file)]


#: Plain-words rules for fields whose schema says it with a regex or a length.
_FIELD_RULES = {
    "/name": "is not a distribution name: use letters, digits, '.', '_' and '-', starting "
             "and ending with a letter or digit (PEP 508)",
    "/description": "is not a description: it must be non-empty text of at most 500 "
                    "characters",
    "/version": "is not a version",
    "/core_version": "is not a version specifier",
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"...' ({len(value)} characters)"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- semantics ----------------------------------------------------------------

def _semantic_problems(loc: Located, file: str, source: ManifestSource | None) -> list[Problem]:
    data = loc.data
    out: list[Problem] = []

    def add(pointer: str, message: str, hint: str | None = None) -> None:
        line, col = loc.where(pointer)
        out.append(Problem(message, pointer, line, col, hint, file))

    version = data.get("version")
    if isinstance(version, str):
        try:
            Version(version)
        except InvalidVersion:
            add("/version", f"version {version!r} is not a PEP 440 version",
                'use a release like "1.0.0"')
    core = data.get("core_version")
    if isinstance(core, str):
        try:
            SpecifierSet(core)
        except InvalidSpecifier:
            add("/core_version", f"core_version {core!r} is not a PEP 440 specifier set",
                'write it like ">=1.2.1,<2"')
    deps = data.get("dependencies")
    if isinstance(deps, dict) and isinstance(deps.get("python"), list):
        for index, req in enumerate(deps["python"]):
            if isinstance(req, str):
                try:
                    Requirement(req)
                except InvalidRequirement as exc:
                    add(f"/dependencies/python/{index}",
                        f"{req!r} is not a PEP 508 requirement: {str(exc).splitlines()[0]}",
                        'write it like "numpy>=1.26"')
    if "config_schema" in data:
        out.extend(_config_schema_problems(loc, file, source))
    return out


def _config_schema_problems(
    loc: Located, file: str, source: ManifestSource | None
) -> list[Problem]:
    value = loc.data["config_schema"]
    line, col = loc.where("/config_schema")

    def problem(message: str, hint: str | None = None) -> list[Problem]:
        return [Problem(message, "/config_schema", line, col, hint, file)]

    if isinstance(value, str):
        rel = PurePosixPath(value)
        if rel.is_absolute() or ".." in rel.parts or "\\" in value:
            return problem(f"config_schema path {value!r} must be relative to the package "
                           "and stay inside it", "no absolute paths, no '..'")
        if source is None:
            return problem(f"config_schema refers to {value!r} but the manifest was given as "
                           "text, so the file cannot be read",
                           "load the manifest from its package, project or wheel")
        text = source.read_sibling(value)
        if text is None:
            return problem(f"config_schema file {value!r} does not exist beside the manifest",
                           "ship the .json file in the package")
        try:
            schema = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return problem(f"config_schema file {value!r} is not valid JSON: {exc}")
    elif isinstance(value, dict):
        schema = value
    else:
        return []  # the schema already reported the type
    if not isinstance(schema, dict):
        return problem("config_schema must describe an object (a JSON Schema mapping)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "its root"
        return problem(f"config_schema is not a valid JSON Schema 2020-12 (at {where}): "
                       f"{exc.message}")
    except (RecursionError, TypeError, ValueError) as exc:
        return problem(f"config_schema is not a valid JSON Schema: {exc}")
    meta = schemas.validator("config_meta")
    errors = sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.path)))
    if errors:
        return problem(f"config_schema: {errors[0].message} (init receives a JSON object, so "
                       "the schema must say type: object)", 'add "type": "object"')
    return []


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        key = (p.pointer, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return sorted(out, key=lambda p: (p.line or 0, p.column or 0, p.pointer))


def _build(data: dict[str, Any], file: str, source: ManifestSource | None) -> Manifest:
    deps = data.get("dependencies") or {}
    config = data.get("config_schema")
    if isinstance(config, str) and source is not None:
        config = json.loads(source.read_sibling(config) or "{}")
    return Manifest(
        name=data["name"],
        version=data["version"],
        description=data["description"],
        api_version=data["api_version"],
        core_version=SpecifierSet(data["core_version"]) if "core_version" in data else None,
        platforms=tuple(data["platforms"]) if "platforms" in data else None,
        python_dependencies=tuple(deps.get("python", ())),
        system_dependencies=tuple(
            SystemDependency(d["name"], d.get("kind", "binary"), dict(d.get("packages", {})))
            for d in deps.get("system", ())
        ),
        network=bool((data.get("permissions") or {}).get("network", False)),
        resources=dict(data.get("resources") or {}),
        config_schema=config,
        voices=tuple(data["voices"]) if "voices" in data else None,
        sample_rates=tuple(data["sample_rates"]) if "sample_rates" in data else None,
        path=file,
        raw=data,
    )


def wheel_manifest_names(wheel: zipfile.ZipFile) -> list[str]:
    """Every ``<package>/vcs_plugin.yaml`` at a top-level package of a wheel."""
    return [n for n in wheel.namelist() if n.count("/") == 1 and n.endswith("/" + MANIFEST_NAME)]
