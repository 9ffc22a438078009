"""JSON Schema (the 2020-12 subset the kit's schemas use) compiled to plain predicates.

Why: the host validates every hook result against the core's schema, and
jsonschema's general machinery (a validator object evolved per subschema,
a generator of errors per keyword) cost 0.1-0.12 ms per Result, a tenth of
the kit's whole budget per hypothesis example.  A predicate built once per
schema answers the only question the common case asks, "valid?", in a few
microseconds.

It never decides a failure: when a predicate says "not valid", or the
schema uses a keyword outside the subset (:func:`compile_schema` returns
``None``), the caller asks jsonschema, whose error is the one reported.
So messages never change and the only possible defect is a predicate more
lenient than jsonschema; ``tests/test_fastcheck.py`` compares the two on
thousands of generated, mutated and arbitrary values per schema.

Semantics follow jsonschema's Draft 2020-12 validator exactly where the
JSON data model is ambiguous in Python: ``integer`` accepts ``1.0``,
booleans are neither integers nor numbers, ``enum``/``const``/
``uniqueItems`` compare ``True`` and ``1`` as different, ``pattern`` is a
``re.search``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

__all__ = ["Predicate", "compile_schema"]

Predicate = Callable[[Any], bool]

#: Keywords that never affect validity.
_ANNOTATIONS: Final = frozenset({
    "$schema", "$id", "$defs", "$comment", "$anchor", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "format",
})
_SUPPORTED: Final = frozenset({
    "type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "required", "properties", "patternProperties",
    "additionalProperties", "minProperties", "maxProperties", "items", "prefixItems",
    "minItems", "maxItems", "uniqueItems", "allOf", "anyOf", "oneOf", "not",
})


class _Unsupported(Exception):
    pass


def compile_schema(schema: Any) -> Predicate | None:
    """A predicate equal to ``Draft202012Validator(schema).is_valid``, or ``None``.

    ``None`` when ``schema`` uses anything outside the subset (``$ref``
    included: hand it over with its references inlined, see
    :func:`vcs_conformance.schemas.inline_refs`).
    """
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: Final[dict[str, Predicate]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _unbool(value: Any) -> Any:
    return ("\0bool", value) if isinstance(value, bool) else value


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: ``True != 1``, containers compared element-wise."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, list | dict) or isinstance(two, list | dict):
        return False
    return bool(_unbool(one) == _unbool(two))


def _all(checks: Sequence[Predicate]) -> Predicate:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)
    return lambda v: all(check(v) for check in frozen)


def _compile(schema: Any) -> Predicate:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, Mapping):
        raise _Unsupported
    for keyword in schema:
        if keyword not in _SUPPORTED and keyword not in _ANNOTATIONS \
                and not keyword.startswith("x-"):
            raise _Unsupported(keyword)
    checks: list[Predicate] = []
    if "type" in schema:
        names = schema["type"]
        names = [names] if isinstance(names, str) else list(names)
        if any(n not in _TYPES for n in names):
            raise _Unsupported("type")
        tests = [_TYPES[n] for n in names]
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        options = list(schema["enum"])
        checks.append(lambda v: any(_equal(v, o) for o in options))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: _equal(v, const))
    checks += _strings(schema) + _numbers(schema) + _objects(schema) + _arrays(schema)
    if "allOf" in schema:
        checks.extend(_compile(s) for s in schema["allOf"])
    if "anyOf" in schema:
        checks.append(_any_of([_compile(s) for s in schema["anyOf"]]))
    if "oneOf" in schema:
        checks.append(_one_of([_compile(s) for s in schema["oneOf"]]))
    if "not" in schema:
        inner = _compile(schema["not"])
        checks.append(lambda v: not inner(v))
    return _all(checks)


def _any_of(subs: list[Predicate]) -> Predicate:
    return lambda v: any(s(v) for s in subs)


def _one_of(subs: list[Predicate]) -> Predicate:
    return lambda v: sum(1 for s in subs if s(v)) == 1


def _strings(schema: Mapping[str, Any]) -> list[Predicate]:
    lo, hi = schema.get("minLength"), schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    if lo is None and hi is None and pattern is None:
        return []

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return True
        if (lo is not None and len(v) < lo) or (hi is not None and len(v) > hi):
            return False
        return pattern is None or pattern.search(v) is not None
    return [check]


def _numbers(schema: Mapping[str, Any]) -> list[Predicate]:
    bounds = [(schema[k], k) for k in ("minimum", "maximum", "exclusiveMinimum",
                                        "exclusiveMaximum") if k in schema]
    if not bounds:
        return []
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")

    def check(v: Any) -> bool:
        if not _is_number(v):
            return True
        return not ((lo is not None and v < lo) or (hi is not None and v > hi)
                    or (xlo is not None and v <= xlo) or (xhi is not None and v >= xhi))
    return [check]


def _objects(schema: Mapping[str, Any]) -> list[Predicate]:
    required = list(schema.get("required", ()))
    props = {k: _compile(s) for k, s in schema.get("properties", {}).items()}
    patterns = [(re.compile(p), _compile(s))
                for p, s in schema.get("patternProperties", {}).items()]
    extra = _compile(schema["additionalProperties"]) \
        if "additionalProperties" in schema else None
    lo, hi = schema.get("minProperties"), schema.get("maxProperties")
    if not (required or props or patterns or extra is not None or lo is not None
            or hi is not None):
        return []

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        if (lo is not None and len(v) < lo) or (hi is not None and len(v) > hi):
            return False
        for key in required:
            if key not in v:
                return False
        for key, value in v.items():
            sub = props.get(key)
            matched = sub is not None
            if sub is not None and not sub(value):
                return False
            for regex, psub in patterns:
                if regex.search(key) is not None:
                    matched = True
                    if not psub(value):
                        return False
            if not matched and extra is not None and not extra(value):
                return False
        return True
    return [check]


def _arrays(schema: Mapping[str, Any]) -> list[Predicate]:
    prefix = [_compile(s) for s in schema.get("prefixItems", ())]
    rest = _compile(schema["items"]) if "items" in schema else None
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    unique = schema.get("uniqueItems") is True
    if not (prefix or rest is not None or lo is not None or hi is not None or unique):
        return []

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        if (lo is not None and len(v) < lo) or (hi is not None and len(v) > hi):
            return False
        for sub, item in zip(prefix, v, strict=False):
            if not sub(item):
                return False
        if rest is not None:
            for item in v[len(prefix):]:
                if not rest(item):
                    return False
        if unique:
            for i, item in enumerate(v):
                if any(_equal(item, other) for other in v[i + 1:]):
                    return False
        return True
    return [check]
