"""The compiled fast path must agree with jsonschema on every value, valid or not.

A predicate more lenient than jsonschema would let a broken Result through
the host unnoticed, so each of the kit's schemas is compared on values drawn
from it (valid), the same values mutated at a random place (mostly invalid),
and arbitrary JSON; and the corners where Python's data model and JSON
Schema's disagree are pinned one by one.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vcs_conformance import schemas
from vcs_conformance._api import KNOWN_API_VERSIONS
from vcs_conformance._fastcheck import compile_schema
from vcs_conformance._schema_strategies import from_schema
from vcs_conformance._validate import validate_shape
from vcs_conformance.errors import OutputInvalid

SETTINGS = settings(max_examples=80, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

KIT_SCHEMAS = [(name, api) for api in KNOWN_API_VERSIONS
               for name in ("dataset", "model", "result", "voice_config", "progress",
                            "manifest")] + [
    (name, None) for name in ("expectations", "config_meta", "manifest")]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 50000) | st.sampled_from([0.0, 1.0, -0.5, 1e9])
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["outputs/a.wav", "models/m", "", "../x", "1.2", "a"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["audio", "sample_rate", "duration_s", "items", "model", "id", "text",
                         "metrics", "name", "x-a", "x_b", "version"]) | st.text(max_size=4),
        inner, max_size=3),
    max_leaves=8)


def _mutate(data: st.DataObject, value: Any) -> Any:
    """``value`` with one node replaced, deleted or (for a container) emptied."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        action = data.draw(st.sampled_from(["descend", "delete", "replace"]))
        out = dict(value)
        if action == "delete":
            del out[key]
        elif action == "replace":
            out[key] = data.draw(JSON)
        else:
            out[key] = _mutate(data, value[key])
        return out
    if isinstance(value, list) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        out_list = list(value)
        out_list[index] = _mutate(data, value[index])
        return out_list
    return data.draw(JSON)


@functools.cache
def _valid(name: str, api: str | None) -> st.SearchStrategy[Any]:
    return from_schema(schemas.load_schema(name, api), registry=schemas.registry(),
                       extra_keys=True)


@pytest.mark.parametrize(("name", "api"), KIT_SCHEMAS, ids=str)
def test_every_kit_schema_compiles(name: str, api: str | None) -> None:
    assert schemas.fast_check(name, api) is not None, f"{api}/{name} left the fast path"


@pytest.mark.parametrize(("name", "api"), KIT_SCHEMAS, ids=str)
@SETTINGS
@given(data=st.data())
def test_agrees_with_jsonschema(name: str, api: str | None, data: st.DataObject) -> None:
    fast = schemas.fast_check(name, api)
    assert fast is not None
    valid = data.draw(_valid(name, api), label="valid")
    assert fast(valid), f"the fast path refused a value jsonschema accepts: {valid!r}"
    mutated = _mutate(data, valid)
    want = schemas.validator(name, api).is_valid(mutated)
    assert fast(mutated) == want, (f"expected {want} (jsonschema), saw {not want}, for "
                                   f"{api}/{name} and {mutated!r}")


@pytest.mark.parametrize(("schema", "value", "valid"), [
    ({"type": "integer"}, 1.0, True),
    ({"type": "integer"}, 1.5, False),
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"type": ["string", "null"]}, None, True),
    ({"minimum": 0}, True, True),  # bounds ignore non-numbers, booleans included
    ({"minimum": 0}, -1, False),
    ({"exclusiveMinimum": 0}, 0, False),
    ({"exclusiveMaximum": 1.5}, 1.5, False),
    ({"enum": [1, "a"]}, True, False),
    ({"enum": [1, "a"]}, 1.0, True),
    ({"const": [1, {"a": False}]}, [1, {"a": 0}], False),
    ({"const": {"a": 1}}, {"a": 1.0}, True),
    ({"uniqueItems": True}, [1, True], True),
    ({"uniqueItems": True}, [1, 1.0], False),
    ({"pattern": "b"}, "abc", True),  # a search, not a match
    ({"pattern": "^b"}, "abc", False),
    ({"minLength": 2}, "\U0001f600", False),  # code points, not UTF-16 units
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False),
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, 1, True),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, None, False),
    ({"not": {"type": "string"}}, "a", False),
    ({"properties": {"a": {"type": "string"}}, "patternProperties": {"^a": {"minLength": 2}},
      "additionalProperties": False}, {"a": "x"}, False),
    ({"patternProperties": {"^x-": True}, "additionalProperties": False}, {"x-1": 1}, True),
    ({"patternProperties": {"^x-": True}, "additionalProperties": False}, {"y": 1}, False),
    ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1, 2], True),
    ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", "b"], False),
    ({"required": ["a"], "minProperties": 2}, {"a": 1}, False),
    ({"maxItems": 1, "minItems": 1}, [], False),
    (False, None, False),
    (True, {"anything": [1]}, True),
])
def test_corners_match_jsonschema(schema: Any, value: Any, valid: bool) -> None:
    from jsonschema import Draft202012Validator

    assert Draft202012Validator(schema).is_valid(value) is valid  # the reference itself
    fast = compile_schema(schema)
    assert fast is not None
    assert fast(value) is valid


@pytest.mark.parametrize("schema", [
    {"$ref": "#/$defs/a", "$defs": {"a": {}}},
    {"type": "string", "format": "email", "contentEncoding": "base64"},
    {"multipleOf": 3},
    {"type": "widget"},
    {"unevaluatedProperties": False},
    "not a schema",
])
def test_unsupported_schemas_leave_the_fast_path(schema: Any) -> None:
    assert compile_schema(schema) is None


def test_a_refused_result_still_gets_jsonschemas_message() -> None:
    with pytest.raises(OutputInvalid) as info:
        validate_shape("synthesize", {"audio": "outputs/a.wav", "sample_rate": 7,
                                      "duration_s": 0.5}, "1.2")
    assert "/sample_rate" in info.value.message
    assert "7 is less than the minimum of 8000" in info.value.message
