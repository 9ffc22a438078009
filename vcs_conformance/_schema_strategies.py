"""Hypothesis strategies generated from JSON Schema 2020-12 (the kit's subset).

Why our own generator: ``hypothesis-jsonschema`` calls a removed hypothesis
internal (it fails on every object schema with current hypothesis), knows
only drafts 4-7, and plugin authors bring their own hypothesis, so the kit
cannot pin one.  The kit's schemas use a small subset of 2020-12; this
module covers exactly that subset with public hypothesis API only, and
refuses anything else *when the strategy is built* (never mid-run), naming
the keyword and the JSON pointer where it stands.

How it works: a schema location is a :class:`~._schema_nodes.Node` (contents,
the ``referencing`` resolver for relative refs, base URI and JSON pointer;
the vocabulary and the errors live beside it in :mod:`._schema_nodes`,
the strings and free-form JSON it draws in :mod:`._schema_text`).
A strategy is built for a *conjunction* of nodes: ``$ref`` and ``allOf``
add nodes to it, ``oneOf``/``anyOf`` split it into one conjunction per
branch.  Keywords of all nodes are then combined per JSON type (tightest
bounds, union of ``required``, per-key conjunctions for ``properties``,
``patternProperties`` and ``additionalProperties``), so most schemas are
generated exactly, without filtering.  Where a combination is not exact
(several patterns, several ``multipleOf``, ``oneOf`` exclusivity, ``not``,
``min/maxProperties``, ``uniqueItems`` with ``prefixItems``) the strategy is
filtered with ``Draft202012Validator`` for the original locations, so every
drawn value is valid by construction or by check.

Decisions a reader should know:

* ``pattern`` has JSON Schema's *search* semantics, so an unanchored
  pattern (``\\S``) draws strings that merely contain a match (texts of any
  length, not one character); a fully anchored ``^...$`` pattern is drawn
  with ``fullmatch=True`` (which also avoids Python's ``$`` matching before
  a final newline).  Regexes are drawn over :func:`unicode_characters`.
* ``format`` is an annotation in 2020-12 and is ignored.
* Objects: keys named in ``properties`` are drawn (required always,
  optional sometimes); a non-trivial ``additionalProperties`` or
  ``patternProperties`` schema makes the object a map and draws extra keys;
  a bare ``{"type": "object"}`` draws free-form content; otherwise unknown
  keys (``x_...``) appear only with ``extra_keys=True`` (SPEC 4: extra keys
  never make input invalid).
* Numbers are finite (strict JSON has no NaN or Infinity); ``type: number``
  draws floats and ints.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final
from urllib.parse import unquote, urldefrag, urljoin

import hypothesis.strategies as st
from hypothesis.strategies import SearchStrategy
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ._schema_nodes import (
    ANONYMOUS,
    SUPPORTED_KEYWORDS,
    TRIVIAL_NOT,
    Node,
    SchemaStrategyError,
    UnsatisfiableSchema,
    UnsupportedSchemaKeyword,
    anchored,
    escape,
    is_trivially_true,
    json_key,
)
from ._schema_text import (
    Text,
    any_json,
    default_alphabet,
    keyed_objects,
    spiced_text,
    text_over,
    unicode_characters,
)

__all__ = [
    "SUPPORTED_KEYWORDS",
    "SchemaStrategyError",
    "UnsatisfiableSchema",
    "UnsupportedSchemaKeyword",
    "default_alphabet",
    "from_schema",
    "spiced_text",
    "unicode_characters",
]

_TYPES: Final = ("null", "boolean", "integer", "number", "string", "array", "object")
#: A per-type result: (strategy, exact) or None when the type is impossible.
Made = tuple[SearchStrategy[Any], bool] | None
#: What unknown keys start with where a schema names its keys (SPEC 4: never invalid).
_EXTRA_PREFIX: Final = "x_"
#: Strings over all of Unicode without spice (unknown keys), shared by every schema.
_PLAIN_TEXT: Final = text_over(unicode_characters())
_LITERAL_PREFIX: Final = re.compile(r"\^((?:[A-Za-z0-9_/:=@,-]|\\[.+*?()|\[\]{}^$\\/-])+)")


class _Builder:
    def __init__(self, registry: Registry[Any], extra_keys: bool,
                 text: Text, key_text: Text) -> None:
        self.registry = registry
        self.extra_keys = extra_keys
        self.text = text
        self.memo: dict[frozenset[Any], SearchStrategy[Any]] = {}
        self.building: set[frozenset[Any]] = set()
        self.validators: dict[str, Draft202012Validator] = {}
        self.any_json = any_json(text)
        #: Unknown keys ``x_...``: one shared strategy, whose identity says "no filter".
        #: Over the plain alphabet: spice in a key nobody reads finds nothing and
        #: cost three hypothesis choices a key.
        self.prefixed_keys = key_text(0, 8).map(_EXTRA_PREFIX.__add__)

    # -- plumbing -------------------------------------------------------------

    def is_valid(self, node: Node) -> Callable[[Any], bool]:
        """The validator of the full schema at ``node`` (dropped keywords included)."""
        where = node.where
        if where not in self.validators:
            self.validators[where] = Draft202012Validator({"$ref": where},
                                                          registry=self.registry)
        return self.validators[where].is_valid

    def deref(self, node: Node) -> Node:
        ref = node.schema["$ref"]
        try:
            resolved = node.resolver.lookup(ref)
        except Unresolvable as exc:
            raise SchemaStrategyError(f"cannot resolve $ref {ref!r} at {node.location}: {exc}") \
                from None
        uri, fragment = urldefrag(urljoin(node.uri, ref))
        if fragment and not fragment.startswith("/"):
            raise UnsupportedSchemaKeyword("$ref", node.location,
                                           f"refs to anchors ({ref!r}) are not supported")
        return Node(resolved.contents, resolved.resolver, uri, unquote(fragment))

    def check(self, node: Node) -> None:
        schema = node.schema
        if isinstance(schema, bool):
            return
        if not isinstance(schema, Mapping):
            raise SchemaStrategyError(f"schema at {node.location} is not an object or boolean")
        for keyword in schema:
            if keyword not in SUPPORTED_KEYWORDS and not keyword.startswith("x-"):
                raise UnsupportedSchemaKeyword(keyword, node.child(keyword).location)
        if "not" in schema:
            sub = schema["not"]
            if not isinstance(sub, bool) and not set(sub) <= TRIVIAL_NOT:
                raise UnsupportedSchemaKeyword("not", node.child("not").location, (
                    "only 'not' over type, const, enum and required is supported"))

    def build(self, nodes: Sequence[Node]) -> SearchStrategy[Any]:
        key = frozenset(n.key for n in nodes)
        if key in self.memo:
            return self.memo[key]
        if key in self.building:  # a recursive schema: tie the knot lazily
            return st.deferred(lambda: self.memo[key])
        self.building.add(key)
        try:
            strategy = self._build(nodes)
        finally:
            self.building.discard(key)
        self.memo[key] = strategy
        return strategy

    # -- the conjunction --------------------------------------------------------

    def _build(self, nodes: Sequence[Node]) -> SearchStrategy[Any]:
        flat: list[Node] = []
        stack = list(reversed(nodes))
        seen: set[tuple[str, frozenset[str]]] = set()
        while stack:
            node = stack.pop()
            if node.key in seen:
                continue
            seen.add(node.key)
            self.check(node)
            if node.schema is True:
                continue
            if node.schema is False:
                raise UnsatisfiableSchema(node.location, "the schema is false")
            if node.has("$ref"):
                stack.append(self.deref(node))
                node = node.without("$ref")
            if node.has("allOf"):
                stack.extend(node.child("allOf", i) for i in range(len(node.schema["allOf"])))
                node = node.without("allOf")
            flat.append(node)
        if not flat:
            return self.any_json
        for node in flat:
            for comb in ("oneOf", "anyOf"):
                if node.has(comb):
                    return self._branches(flat, node, comb)
        return self._plain(flat)

    def _branches(self, flat: list[Node], node: Node, comb: str) -> SearchStrategy[Any]:
        rest = [n for n in flat if n is not node] + [node.without(comb)]
        options: list[SearchStrategy[Any]] = []
        problems: list[str] = []
        for i in range(len(node.schema[comb])):
            try:
                options.append(self.build([*rest, node.child(comb, i)]))
            except UnsatisfiableSchema as exc:
                problems.append(str(exc))
        if not options:
            raise UnsatisfiableSchema(node.child(comb).location, "; ".join(problems))
        strategy = st.one_of(options)
        if comb == "oneOf":  # exactly one branch must match: check exclusivity
            strategy = strategy.filter(self.is_valid(node))
        return strategy

    def _plain(self, flat: list[Node]) -> SearchStrategy[Any]:
        where = flat[0].location
        checks = [self.is_valid(n) for n in flat]
        for node in flat:
            if node.has("enum") or node.has("const"):
                values = node.get("enum") if node.has("enum") else [node.get("const")]
                ok = [v for v in values if all(check(v) for check in checks)]
                if not ok:
                    raise UnsatisfiableSchema(node.location, "no enum/const value passes the "
                                                          "other constraints")
                return st.sampled_from(ok)
        allowed = set(_TYPES)
        for node in flat:
            if node.has("type"):
                types = node.get("type")
                names = {types} if isinstance(types, str) else set(types)
                if "number" in names:
                    names.add("integer")
                allowed &= names
        if "number" in allowed:
            allowed.discard("integer")
        inexact = any(n.has("not") or n.has("minProperties") or n.has("maxProperties")
                      for n in flat)
        options: list[SearchStrategy[Any]] = []
        for name in _TYPES:
            if name not in allowed:
                continue
            made = getattr(self, "_" + name)(flat)
            if made is not None:
                strategy, exact = made
                options.append(strategy)
                inexact = inexact or not exact
        if not options:
            raise UnsatisfiableSchema(where, "no JSON type satisfies every constraint")
        result = st.one_of(options)
        if inexact:
            result = result.filter(lambda v: all(check(v) for check in checks))
        return result

    # -- per JSON type: (strategy, exact) or None when the type is impossible ---

    def _null(self, flat: list[Node]) -> Made:
        return st.none(), True

    def _boolean(self, flat: list[Node]) -> Made:
        return st.booleans(), True

    @staticmethod
    def _bounds(flat: list[Node]) -> tuple[Fraction | None, bool, Fraction | None, bool]:
        lo: Fraction | None = None
        hi: Fraction | None = None
        lo_ex = hi_ex = False
        for node in flat:
            for kw, is_lo, ex in (("minimum", True, False), ("exclusiveMinimum", True, True),
                                  ("maximum", False, False), ("exclusiveMaximum", False, True)):
                if not node.has(kw):
                    continue
                value = Fraction(node.get(kw))
                if is_lo and (lo is None or value > lo or (value == lo and ex)):
                    lo, lo_ex = value, ex
                elif not is_lo and (hi is None or value < hi or (value == hi and ex)):
                    hi, hi_ex = value, ex
        return lo, lo_ex, hi, hi_ex

    @staticmethod
    def _int_range(lo: Fraction | None, lo_ex: bool, hi: Fraction | None,
                   hi_ex: bool) -> tuple[int | None, int | None]:
        ilo = None if lo is None else (math.floor(lo) + 1 if lo_ex else math.ceil(lo))
        ihi = None if hi is None else (math.ceil(hi) - 1 if hi_ex else math.floor(hi))
        return ilo, ihi

    @staticmethod
    def _steps(flat: list[Node]) -> list[Fraction]:
        return [Fraction(n.get("multipleOf")) for n in flat if n.has("multipleOf")]

    def _integer(self, flat: list[Node]) -> Made:
        lo, lo_ex, hi, hi_ex = self._bounds(flat)
        ilo, ihi = self._int_range(lo, lo_ex, hi, hi_ex)
        if ilo is not None and ihi is not None and ilo > ihi:
            return None
        steps = self._steps(flat)
        if not steps:
            return st.integers(ilo, ihi), True
        if any(s.denominator != 1 for s in steps):
            return st.integers(ilo, ihi), False  # checked by the validators
        m = math.lcm(*(int(s) for s in steps))
        klo = None if ilo is None else -(-ilo // m)
        khi = None if ihi is None else ihi // m
        if klo is not None and khi is not None and klo > khi:
            return None
        return st.integers(klo, khi).map(lambda k: k * m), True

    def _number(self, flat: list[Node]) -> Made:
        lo, lo_ex, hi, hi_ex = self._bounds(flat)
        ints = self._integer(flat)
        steps = self._steps(flat)
        if steps and all(s.denominator == 1 for s in steps):
            return ints  # integral steps: their multiples are exactly these ints
        if steps:
            step = steps[0]
            klo = None if lo is None else math.ceil(lo / step)
            khi = None if hi is None else math.floor(hi / step)
            if klo is not None and khi is not None and klo > khi:
                return None
            f = float(step)
            return st.integers(klo, khi).map(lambda k: k * f), False
        if lo is not None and hi is not None and (lo > hi or (lo == hi and (lo_ex or hi_ex))):
            return ints
        floats = st.floats(min_value=None if lo is None else float(lo),
                           max_value=None if hi is None else float(hi),
                           exclude_min=lo_ex and lo is not None,
                           exclude_max=hi_ex and hi is not None,
                           allow_nan=False, allow_infinity=False)
        # float(bound) may round outwards for huge or odd Fractions: then check.
        exact = all(b is None or Fraction(float(b)) == b for b in (lo, hi))
        if ints is None:
            return floats, exact
        return st.one_of(floats, ints[0]), exact and ints[1]

    def _string(self, flat: list[Node]) -> Made:
        lo = max((n.get("minLength") for n in flat if n.has("minLength")), default=0)
        hi = min((n.get("maxLength") for n in flat if n.has("maxLength")), default=None)
        if hi is not None and lo > hi:
            return None
        patterns = [p for p in (n.get("pattern") for n in flat) if p is not None]
        if not patterns:
            return self._with_long(self.text(lo, hi), lo, hi,
                                   None), True
        for node in flat:
            if node.has("pattern"):
                try:
                    re.compile(node.get("pattern"))
                except re.error as exc:
                    raise SchemaStrategyError(f"pattern at {node.child('pattern').location} is "
                                              f"not a Python regex: {exc}") from None
        regex_alphabet = unicode_characters()

        def drawn(p: str) -> SearchStrategy[str]:
            return st.from_regex(p, fullmatch=anchored(p), alphabet=regex_alphabet)

        prefixes = [m.group(1) for p in patterns if (m := _LITERAL_PREFIX.fullmatch(p))]
        others = [p for p in patterns if not _LITERAL_PREFIX.fullmatch(p)]
        if len(prefixes) == 1 and others:
            # e.g. allOf[workspace_path, "^models/"]: prefix draws of the other pattern.
            literal = re.sub(r"\\(.)", r"\1", prefixes[0])
            base = st.one_of([drawn(p) for p in others]).map(literal.__add__)
        else:
            base = st.one_of([self._with_long(drawn(p), lo, hi, p) for p in patterns])
        compiled = [re.compile(p) for p in patterns]

        def fits(s: str) -> bool:
            return lo <= len(s) and (hi is None or len(s) <= hi) \
                and all(c.search(s) for c in compiled)

        matching = base.filter(fits)
        if any(p.startswith("^") for p in patterns):
            return matching, True
        # Search patterns (``\S``: "not all white space") match most plain strings: try
        # one first and draw from the regex only when it does not match.  A plain
        # string costs half of a ``from_regex`` draw through a filter.
        plain = self._with_long(self.text(lo, hi), lo, hi, None)

        @st.composite
        def plain_first(draw: st.DrawFn) -> str:
            drawn = draw(plain)
            return drawn if fits(drawn) else draw(matching)

        return plain_first(), True

    def _with_long(self, strategy: SearchStrategy[str], lo: int, hi: int | None,
                   pattern: str | None) -> SearchStrategy[str]:
        """Mix in long strings (100 to 5,000 characters) where the schema allows them.

        Why: hypothesis draws short strings on average, and SPEC 5 texts go
        to 5,000 characters; a defect that only texts over a few hundred
        characters trigger must be found.  Long strings repeat a drawn chunk
        (cheap) on the sides an unanchored pattern leaves free, so a search
        pattern still matches.
        """
        free_left = pattern is None or not pattern.startswith("^")
        free_right = pattern is None or not anchored("^" + pattern)
        top = min(5000, hi if hi is not None else 5000)
        if top < 100 or not (free_left or free_right):
            return strategy

        def grow(parts: tuple[str, str, int, bool]) -> str:
            core, chunk, length, left = parts
            pad = (chunk * (length // len(chunk) + 1))[: max(0, length - len(core))]
            return pad + core if (left and free_left) or not free_right else core + pad

        long = st.tuples(strategy, self.text(1, 16),
                         st.integers(max(lo, 100), top), st.booleans()).map(grow)
        return st.one_of(strategy, strategy, strategy, long)

    def _array(self, flat: list[Node]) -> Made:
        lo = max((n.get("minItems") for n in flat if n.has("minItems")), default=0)
        hi: int | None = min((n.get("maxItems") for n in flat if n.has("maxItems")),
                             default=None)
        prefix_len = max((len(n.get("prefixItems", [])) for n in flat), default=0)
        for node in flat:
            if node.get("items") is False:
                cap = len(node.get("prefixItems", []))
                hi = cap if hi is None else min(hi, cap)

        def at(i: int) -> list[Node] | None:
            out = []
            for node in flat:
                prefix = node.get("prefixItems", [])
                sub = node.child("prefixItems", i) if i < len(prefix) else (
                    node.child("items") if node.has("items") else None)
                if sub is not None and sub.schema is False:
                    return None
                if sub is not None:
                    out.append(sub)
            return out

        heads: list[SearchStrategy[Any]] = []
        for i in range(prefix_len if hi is None else min(prefix_len, hi)):
            need = at(i)
            if need is None:
                hi = i
                break
            heads.append(self.build(need))
        if hi is not None and lo > hi:
            return None
        unique = any(n.get("uniqueItems") is True for n in flat)
        tail_need = at(prefix_len) if hi is None or hi > prefix_len else None
        tail = None if tail_need is None else self.build(tail_need)
        if not heads and tail is not None:
            return st.lists(tail, min_size=lo, max_size=hi,
                            unique_by=json_key if unique else None), True
        if lo > len(heads) and tail is None:
            return None
        n_heads = len(heads)

        @st.composite
        def arrays(draw: st.DrawFn) -> list[Any]:
            k = draw(st.integers(min(lo, n_heads), n_heads))
            out = [draw(h) for h in heads[:k]]
            if k == n_heads and tail is not None:
                more = draw(st.lists(tail, min_size=max(lo - n_heads, 0),
                                     max_size=None if hi is None else hi - n_heads))
                out.extend(more)
            return out

        strategy: SearchStrategy[list[Any]] = arrays()
        if unique:
            strategy = strategy.filter(lambda a: len({json_key(v) for v in a}) == len(a))
        return strategy, True

    def _object(self, flat: list[Node]) -> Made:
        names: dict[str, None] = {}
        for node in flat:
            names.update(dict.fromkeys(node.get("properties", {})))
            names.update(dict.fromkeys(node.get("required", [])))
        required = {r for n in flat for r in n.get("required", [])}
        patterns = [(re.compile(p), n.child("patternProperties", p))
                    for n in flat for p in n.get("patternProperties", {})]

        def need(key: str) -> list[Node] | None:
            out: list[Node] = []
            for node in flat:
                handled = False
                if key in node.get("properties", {}):
                    out.append(node.child("properties", key))
                    handled = True
                for p in node.get("patternProperties", {}):
                    if re.search(p, key):
                        out.append(node.child("patternProperties", p))
                        handled = True
                if not handled and node.has("additionalProperties"):
                    out.append(node.child("additionalProperties"))
            if any(n.schema is False for n in out):
                return None
            return [n for n in out if n.schema is not True]

        fixed: dict[str, SearchStrategy[Any]] = {}
        optional: dict[str, SearchStrategy[Any]] = {}
        for key in names:
            constraint = need(key)
            if constraint is None:
                if key in required:
                    raise UnsatisfiableSchema(flat[0].location, f"required key {key!r} is "
                                                             "forbidden")
                continue
            (fixed if key in required else optional)[key] = self.build(constraint)
        sources = self._key_sources(flat, patterns)
        if not sources:
            return keyed_objects(fixed, optional), True
        for _, pnode in patterns:  # unsupported keywords must surface now
            if pnode.schema is not False:
                self.build([pnode])
        for node in flat:
            if isinstance(node.get("additionalProperties"), Mapping):
                self.build([node.child("additionalProperties")])
        # Extra keys in half the objects: a count (drawn with the optional keys' mask),
        # then each key (a duplicate is dropped).  Cheaper than st.lists(unique=True),
        # whose bookkeeping cost more than the keys themselves; shrinking goes to none.
        # Up to three where keys are data (maps, pattern keys: ``maxProperties`` 3 must
        # be reachable), up to two where they are only unknown ``x_...`` keys, which
        # need no filter against the named keys unless a named key could be one:
        # hypothesis' filter machinery costs more per key than drawing it.
        only_unknown = sources == [self.prefixed_keys]
        extra_counts = (0, 0, 0, 1, 1, 2) if only_unknown else (0, 0, 0, 1, 2, 3)
        extra_key = sources[0] if len(sources) == 1 else st.one_of(sources)
        if not only_unknown or any(n.startswith(_EXTRA_PREFIX) for n in names):
            extra_key = extra_key.filter(lambda k: k not in names)
        # An extra key's constraint depends only on which patternProperties it
        # matches: resolve each combination once, not once per drawn key.
        by_matches: dict[tuple[bool, ...], SearchStrategy[Any] | None] = {}

        def value_for(key: str) -> SearchStrategy[Any] | None:
            matches = tuple(bool(regex.search(key)) for regex, _ in patterns)
            if matches not in by_matches:
                constraint = need(key)
                try:
                    by_matches[matches] = None if constraint is None else self.build(constraint)
                except SchemaStrategyError:
                    by_matches[matches] = None
            return by_matches[matches]

        def add_extra(draw: st.DrawFn, out: dict[str, Any]) -> None:
            key = draw(extra_key)
            value = None if key in out else value_for(key)
            if value is not None:
                out[key] = draw(value)

        return keyed_objects(fixed, optional, (extra_counts, add_extra)), True

    def _key_sources(self, flat: list[Node],
                     patterns: Iterable[tuple[re.Pattern[str], Node]]
                     ) -> list[SearchStrategy[str]]:
        sources: list[SearchStrategy[str]] = []
        regex_alphabet = unicode_characters()
        for regex, pnode in patterns:
            if pnode.schema is not False and (self.extra_keys
                                              or not is_trivially_true(pnode.schema)):
                sources.append(st.from_regex(regex, alphabet=regex_alphabet))
        if any(n.get("additionalProperties") is False for n in flat):
            return sources
        shaped = any(n.has(k) for n in flat
                     for k in ("properties", "patternProperties", "additionalProperties"))
        mapping = any(n.has("additionalProperties")
                      and not is_trivially_true(n.get("additionalProperties")) for n in flat)
        if mapping or not shaped:
            sources.append(self.text(0, 12))
        elif self.extra_keys:
            sources.append(self.prefixed_keys)
        return sources


def from_schema(schema: Mapping[str, Any] | bool, *, registry: Registry[Any] | None = None,
                extra_keys: bool = False,
                string_alphabet: SearchStrategy[str] | None = None) -> SearchStrategy[Any]:
    """A strategy of JSON values valid against ``schema`` (2020-12 subset).

    ``registry`` holds the other schemas ``$ref`` may name by ``$id``.
    ``extra_keys`` sometimes adds unknown ``x_...`` keys where the schema
    allows them.  ``string_alphabet`` draws the characters of strings and
    keys (default: all of Unicode with spice, see :func:`spiced_text`);
    ``pattern`` strings always
    draw from :func:`unicode_characters`.  Raises
    :class:`UnsupportedSchemaKeyword`, :class:`UnsatisfiableSchema` or
    :class:`SchemaStrategyError` now, never while drawing.
    """
    if not isinstance(schema, bool | Mapping):
        raise SchemaStrategyError(f"a schema is an object or a boolean, got "
                                  f"{type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/" + "/".join(escape(p) for p in exc.path) if exc.path else "the root"
        raise SchemaStrategyError(f"not a valid 2020-12 schema at {where}: {exc.message}") \
            from None
    base: Registry[Any] = registry if registry is not None else Registry()
    uri = schema.get("$id") if isinstance(schema, Mapping) else None
    if not isinstance(uri, str):
        uri = f"{ANONYMOUS}{uuid.uuid4().hex}.json"
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    full = base.with_resource(uri, resource).crawl()
    root = Node(schema, full.resolver(base_uri=uri), uri, "")
    text: Text
    key_text: Text
    if string_alphabet is None:
        text, key_text = spiced_text, _PLAIN_TEXT
    else:
        text = key_text = text_over(string_alphabet)
    builder = _Builder(full, extra_keys, text, key_text)
    return builder.build([root])
