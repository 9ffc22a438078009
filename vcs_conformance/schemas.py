"""The kit's JSON Schemas: one set per API version, the single source of truth.

Why a module: the schemas live in the top-level ``schemas/`` folder of the
repository and ship inside the wheel as ``vcs_conformance/schemas``; this
module finds them in either place, builds one ``referencing.Registry`` of
all of them (they ``$ref`` each other by relative ``$id``), and hands out
validators.  Validation, the hook table and the payload strategies all read
the same files, so nothing is written twice.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ._api import KNOWN_API_VERSIONS
from ._fastcheck import Predicate, compile_schema

__all__ = [
    "BASE_URI",
    "SCHEMA_NAMES",
    "hook_table",
    "load_schema",
    "registry",
    "schema_dir",
    "schema_uri",
    "validator",
]

#: Base of every schema ``$id``; ``.invalid`` is reserved, so nothing resolves it over a network.
BASE_URI = "https://vcs-conformance.invalid/schemas/"
#: Schemas each API version has (``schemas/<api>/<name>.schema.json``).
SCHEMA_NAMES = ("dataset", "hooks", "manifest", "model", "progress", "result", "voice_config")


def schema_dir() -> Path:
    """Where the schema files are: inside the installed package, else the repo."""
    packaged = resources.files("vcs_conformance") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parent.parent / "schemas"
    if repo.is_dir():
        return repo
    raise FileNotFoundError(  # pragma: no cover - a broken installation
        "vcs_conformance cannot find its schemas: reinstall the package "
        "(the wheel ships them as vcs_conformance/schemas)"
    )


def schema_uri(name: str, api: str | None = None) -> str:
    """``$id`` of a schema: ``common/<name>`` when ``api`` is None."""
    return f"{BASE_URI}{api or 'common'}/{name}.schema.json"


@cache
def _all_documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    root = schema_dir()
    for path in sorted(root.glob("*/*.schema.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        docs[doc["$id"]] = doc
    return docs


@cache
def registry() -> Registry[Any]:
    """One registry holding every schema, so cross-file ``$ref`` resolve offline."""
    resources_ = [
        (uri, Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in _all_documents().items()
    ]
    return Registry().with_resources(resources_).crawl()


def load_schema(name: str, api: str | None = None) -> dict[str, Any]:
    """The schema document ``<api>/<name>`` (or ``common/<name>``)."""
    if api is not None and api not in KNOWN_API_VERSIONS:
        raise KeyError(f"no schemas for API {api!r}; known: {', '.join(KNOWN_API_VERSIONS)}")
    uri = schema_uri(name, api)
    try:
        return _all_documents()[uri]
    except KeyError:
        raise KeyError(f"no schema {name!r} for API {api or 'common'}") from None


@cache
def validator(name: str, api: str | None = None) -> Draft202012Validator:
    """A validator for ``<api>/<name>`` with every cross-reference resolvable.

    The host validates every hook result with one of these, so the schema
    is handed over with its ``$ref`` already inlined (:func:`inline_refs`):
    resolving them through the registry on every validation was half of
    its cost.  Verdicts and messages are the same.
    """
    uri = schema_uri(name, api)
    return Draft202012Validator(inline_refs(load_schema(name, api), uri), registry=registry())


@cache
def fast_check(name: str, api: str | None = None) -> Predicate | None:
    """``validator(name, api).is_valid`` compiled to a plain predicate (or ``None``).

    The host's fast path for every hook result: it answers "valid" in a few
    microseconds; a "not valid" is handed to :func:`validator` for the error
    (see :mod:`vcs_conformance._fastcheck`).
    """
    return compile_schema(inline_refs(load_schema(name, api), schema_uri(name, api)))


def inline_refs(schema: Any, base: str) -> Any:
    """``schema`` with each ``$ref`` replaced by what it points at (recursively).

    A ``$ref`` with sibling keywords becomes ``allOf: [target, siblings]``;
    one that would recurse into itself stays a ``$ref``, made absolute so it
    still resolves where it now sits.  Inlined documents lose ``$id`` and
    ``$schema`` (their own references are inlined too).
    """
    return _inline(schema, registry().resolver(base), base, ())


def _inline(node: Any, resolver: Any, base: str, active: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, resolver, base, active) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$id"), str):
        base = urljoin(base, node["$id"])
        resolver = resolver.in_subresource(
            Resource.from_contents(node, default_specification=DRAFT202012))
    out = {k: _inline(v, resolver, base, active) for k, v in node.items()
           if k not in ("$ref", "$id", "$schema")}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return out
    absolute = urljoin(base, ref)
    if absolute in active:
        return {**out, "$ref": absolute}
    resolved = resolver.lookup(ref)
    target = _inline(resolved.contents, resolved.resolver, urldefrag(absolute).url,
                     (*active, absolute))
    return {"allOf": [target, out]} if out else target


def defs_validator(defname: str) -> Draft202012Validator:
    """A validator for one definition of ``common/defs`` (e.g. ``text``)."""
    return _defs_validator(defname)


@cache
def _defs_validator(defname: str) -> Draft202012Validator:
    defs = load_schema("defs")["$defs"]
    if defname not in defs:
        raise KeyError(f"no definition {defname!r} in common/defs")
    ref = {"$ref": f"{schema_uri('defs')}#/$defs/{defname}"}
    return Draft202012Validator(inline_refs(ref, schema_uri("defs")), registry=registry())


def hook_table(api: str) -> dict[str, Any]:
    """SPEC 5's hook table for ``api``: argument and return schema names per hook."""
    table = load_schema("hooks", api)["const"]
    assert isinstance(table, dict)
    return table
