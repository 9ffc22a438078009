"""The schemas are the single source of truth: they must be valid and say what SPEC says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vcs_conformance import schemas
from vcs_conformance._api import KNOWN_API_VERSIONS

ALL = [(name, api) for api in KNOWN_API_VERSIONS for name in schemas.SCHEMA_NAMES] + [
    ("defs", None), ("manifest", None), ("config_meta", None), ("expectations", None),
    ("report", None)]


@pytest.mark.parametrize(("name", "api"), ALL)
def test_schema_is_valid_against_its_metaschema(name: str, api: str | None) -> None:
    doc = schemas.load_schema(name, api)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == schemas.schema_uri(name, api)
    # Every $ref resolves (validating anything walks them lazily, so force it).
    validator = schemas.validator(name, api)
    list(validator.iter_errors({}))


def test_every_file_on_disk_is_loaded() -> None:
    files = sorted(schemas.schema_dir().glob("*/*.schema.json"))
    ids = {json.loads(p.read_text())["$id"] for p in files}
    assert len(ids) == len(files) == len(ALL)


# SPEC section 5's shapes (API 1.2), and section 1's older ones.
SPEC_EXAMPLES: list[tuple[str, str, Any, bool]] = [
    ("dataset", "1.2", {"items": [{"id": "a1", "audio": "datasets/d/wavs/a1.wav",
                                   "text": "Hi", "duration_s": 1.25}], "sample_rate": 22050}, True),
    ("dataset", "1.2", {"items": [{"id": "a1", "audio": "datasets/d/wavs/a1.wav",
                                   "text": "Hi"}], "sample_rate": 22050}, False),
    ("dataset", "1.1", {"items": [{"id": "a1", "audio": "datasets/d/wavs/a1.wav",
                                   "text": "Hi"}], "sample_rate": 22050}, True),
    ("dataset", "1.2", {"items": [], "sample_rate": 22050}, False),
    ("dataset", "1.2", {"items": [{"id": "a b", "audio": "x.wav", "text": "",
                                   "duration_s": 1}], "sample_rate": 22050}, False),
    ("model", "1.2", {"model": "models/voice.json", "metrics": {"f0_hz": 98.5, "files": 3}}, True),
    ("model", "1.2", {"model": "outputs/voice.json", "metrics": {}}, False),
    ("model", "1.2", {"model": "models/v.json", "metrics": {"f0": "high"}}, False),
    ("progress", "1.2", {"percent": 50, "status": "training"}, True),
    ("progress", "1.2", {"percent": 101, "status": "x"}, False),
    ("progress", "1.2", {"percent": 10, "status": ""}, False),
    ("progress", "1.0", {"percent": 10}, True),
    ("voice_config", "1.2", {"model": None, "voice": "en-us", "rate": 1.5, "pitch": -3,
                             "sample_rate": 16000}, True),
    ("voice_config", "1.2", {}, True),
    ("voice_config", "1.2", {"rate": 4.5}, False),
    ("voice_config", "1.2", {"pitch": 12.5}, False),
    ("voice_config", "1.2", {"future_key": [1, 2]}, True),  # extra keys are never invalid
    ("voice_config", "1.1", {"speed": 2.0}, True),
    ("voice_config", "1.1", {"speed": 9.0}, False),
    ("result", "1.2", {"audio": "outputs/a.wav", "sample_rate": 22050, "duration_s": 1.5}, True),
    ("result", "1.2", {"audio": "models/a.wav", "sample_rate": 22050, "duration_s": 1.5}, False),
    ("result", "1.2", {"audio": "outputs/../x.wav", "sample_rate": 22050, "duration_s": 1},
     False),
    ("result", "1.2", {"audio": "/outputs/a.wav", "sample_rate": 22050, "duration_s": 1}, False),
    ("result", "1.2", {"audio": "outputs//a.wav", "sample_rate": 22050, "duration_s": 1}, False),
    ("result", "1.2", {"audio": "outputs/./a.wav", "sample_rate": 22050, "duration_s": 1}, False),
    ("result", "1.2", {"audio": "outputs/.hidden/a.wav", "sample_rate": 22050, "duration_s": 1},
     True),
    ("result", "1.2", {"audio": "outputs/a.wav", "sample_rate": 96000, "duration_s": 1}, False),
    ("result", "1.0", "outputs/hello.wav", True),
    ("result", "1.0", {"audio": "outputs/a.wav", "sample_rate": 22050, "duration_s": 1}, False),
    ("manifest", "1.2", {"name": "vcs-example", "version": "1.0.0", "description": "x",
                         "api_version": "1.2", "x-anything": {"a": 1}}, True),
    ("manifest", "1.2", {"name": "vcs-example", "version": "1.0.0", "description": "x",
                         "api_version": "1.1"}, False),
]


@pytest.mark.parametrize(("name", "api", "instance", "valid"), SPEC_EXAMPLES)
def test_spec_examples(name: str, api: str, instance: Any, valid: bool) -> None:
    errors = [e.message for e in schemas.validator(name, api).iter_errors(instance)]
    assert (not errors) == valid, errors


@pytest.mark.parametrize(("defname", "value", "valid"), [
    ("text", "Hello", True), ("text", "   \n\t", False), ("text", "", False),
    ("text", "x" * 5000, True), ("text", "x" * 5001, False), ("text", "مرحبا 👋", True),
    ("item_id", "LJ001-0001", True), ("item_id", "a/b", False), ("item_id", "x" * 65, False),
    ("workspace_path", "datasets/d/wavs/a.wav", True), ("workspace_path", "../a", False),
    ("workspace_path", "a/..", False), ("workspace_path", "a/", False),
    ("workspace_path", "...", True),
])
def test_definitions(defname: str, value: str, valid: bool) -> None:
    assert schemas.defs_validator(defname).is_valid(value) is valid


def test_hook_table_tracks_the_version_differences() -> None:
    assert schemas.hook_table("1.0")["train"]["args"][1]["arity"] == 1
    assert schemas.hook_table("1.1")["train"]["args"][1]["arity"] == 2
    for api in KNOWN_API_VERSIONS:
        table = schemas.hook_table(api)
        assert set(table) == {"init", "preprocess", "train", "synthesize"}
        assert table["synthesize"]["returns"] == "result"


def test_unknown_version_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"no schemas for API '9\.9'"):
        schemas.load_schema("result", "9.9")


@pytest.mark.parametrize(("name", "api"), ALL)
def test_inlined_validators_judge_exactly_like_the_referencing_ones(name: str,
                                                                   api: str | None) -> None:
    """``schemas.validator`` hands out the schema with ``$ref`` inlined (it is faster);
    on valid and invalid documents alike it must say what the original says, and
    name the same place."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from vcs_conformance._schema_strategies import SchemaStrategyError, from_schema

    original = Draft202012Validator(schemas.load_schema(name, api), registry=schemas.registry())
    inlined = schemas.validator(name, api)
    assert "$ref" not in json.dumps(inlined.schema) or name in ("report",)
    anything = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                            | st.floats(allow_nan=False),
                            lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                            max_leaves=8)
    try:
        valid = from_schema(schemas.load_schema(name, api), registry=schemas.registry())
        documents = st.one_of(anything, valid)
    except SchemaStrategyError:
        documents = anything

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(documents)
    def agree(doc: Any) -> None:
        def paths(v: Draft202012Validator) -> list[tuple[Any, ...]]:
            return sorted(tuple(map(str, e.absolute_path)) for e in v.iter_errors(doc))
        assert original.is_valid(doc) == inlined.is_valid(doc)
        assert bool(paths(original)) == bool(paths(inlined))

    agree()
