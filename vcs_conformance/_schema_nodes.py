"""Schema locations, the supported 2020-12 vocabulary, and the generator's errors.

Split out of :mod:`._schema_strategies` (which builds the strategies) so
that what a schema *is* to the generator (a location with its resolver,
the keywords it may use, JSON Schema equality) stays apart from how values
are drawn.  Nothing here imports hypothesis.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final
from urllib.parse import quote, urldefrag, urljoin

from referencing.jsonschema import DRAFT202012

__all__ = [
    "ANNOTATIONS",
    "ANONYMOUS",
    "SUPPORTED_KEYWORDS",
    "TRIVIAL_NOT",
    "Node",
    "SchemaStrategyError",
    "UnsatisfiableSchema",
    "UnsupportedSchemaKeyword",
    "anchored",
    "escape",
    "is_trivially_true",
    "json_key",
]

ANNOTATIONS: Final = frozenset({
    "$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "format"})
SUPPORTED_KEYWORDS: Final = ANNOTATIONS | frozenset({
    "$ref", "type", "enum", "const", "properties", "required", "additionalProperties",
    "patternProperties", "minProperties", "maxProperties", "items", "prefixItems",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "oneOf", "anyOf",
    "allOf", "not"})
#: What a ``not`` subschema may use: anything else cannot be negated cheaply.
TRIVIAL_NOT: Final = ANNOTATIONS | frozenset({"type", "const", "enum", "required"})
ANONYMOUS: Final = "https://vcs-conformance.invalid/anonymous/"


class SchemaStrategyError(ValueError):
    """The schema cannot be turned into a strategy; says where and why."""


class UnsupportedSchemaKeyword(SchemaStrategyError):
    """A keyword outside :data:`SUPPORTED_KEYWORDS`, found while building."""

    def __init__(self, keyword: str, where: str, why: str = "") -> None:
        reason = why or "the kit's generator supports only " + ", ".join(
            sorted(SUPPORTED_KEYWORDS - ANNOTATIONS))
        super().__init__(f"unsupported JSON Schema keyword {keyword!r} at {where}: {reason}")
        self.keyword = keyword
        self.pointer = where


class UnsatisfiableSchema(SchemaStrategyError):
    """No value satisfies the schema at ``pointer`` (e.g. minLength > maxLength)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"no value satisfies the schema at {where}: {why}")
        self.pointer = where


def escape(token: str | int) -> str:
    """One JSON pointer token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


class Node:
    """One schema location: contents plus what resolves refs relative to it.

    ``drop`` names keywords already accounted for (``$ref``, ``allOf``, a
    combinator being split), so the same location can stand for "the rest".
    """

    __slots__ = ("_where", "drop", "pointer", "resolver", "schema", "uri")

    def __init__(self, schema: Any, resolver: Any, uri: str, pointer: str,
                 drop: frozenset[str] = frozenset()) -> None:
        if isinstance(schema, Mapping) and isinstance(schema.get("$id"), str) and pointer:
            uri = urljoin(uri, schema["$id"])
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
            pointer = ""
        self.schema, self.resolver, self.uri, self.pointer, self.drop = (
            schema, resolver, uri, pointer, drop)
        self._where: str | None = None

    @property
    def where(self) -> str:
        """The absolute URI of this location (a memo key and a ``$ref`` target).

        Cached: it keys the builder's memo and is asked for on every lookup.
        """
        if self._where is None:
            self._where = f"{urldefrag(self.uri)[0]}#{quote(self.pointer, safe='/~')}"
        return self._where

    @property
    def location(self) -> str:
        """For people: the document's URI (none for an anonymous root) and pointer."""
        doc = urldefrag(self.uri)[0]
        return ("" if doc.startswith(ANONYMOUS) else doc) + "#" + self.pointer

    @property
    def key(self) -> tuple[str, frozenset[str]]:
        return self.where, self.drop

    def has(self, keyword: str) -> bool:
        return isinstance(self.schema, Mapping) and keyword in self.schema \
            and keyword not in self.drop

    def get(self, keyword: str, default: Any = None) -> Any:
        return self.schema.get(keyword, default) if self.has(keyword) else default

    def child(self, *path: str | int) -> Node:
        value = self.schema
        for step in path:
            value = value[step]
        pointer = self.pointer + "".join("/" + escape(p) for p in path)
        return Node(value, self.resolver, self.uri, pointer)

    def without(self, keyword: str) -> Node:
        return Node(self.schema, self.resolver, self.uri, self.pointer,
                     self.drop | {keyword})


def json_key(value: Any) -> Any:
    """Hashable key with JSON Schema equality (1 == 1.0, True != 1)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", Fraction(value))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("a", tuple(json_key(v) for v in value))
    return ("o", frozenset((k, json_key(v)) for k, v in value.items()))


def is_trivially_true(schema: Any) -> bool:
    """``true`` or only annotations: every value is valid."""
    return schema is True or (isinstance(schema, Mapping) and set(schema) <= ANNOTATIONS)


def anchored(pattern: str) -> bool:
    """``^...$``: drawn with ``fullmatch`` (a trailing ``\\$`` is a literal dollar)."""
    return pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")
