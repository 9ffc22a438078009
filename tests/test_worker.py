"""The frame codec both sides share, and the registry the worker builds (SPEC 3)."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcs_conformance._worker import (
    FrameError,
    FrameReader,
    PluginRegistry,
    decode_payload,
    encode_frame,
    write_all,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@given(JSON)
def test_strict_json_round_trips(value: Any) -> None:
    frame = encode_frame(value)
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    assert decode_payload(frame[4:]) == value


@pytest.mark.parametrize(("payload", "why"), [
    (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    (b"[NaN]", "NaN is not JSON"),
    (b"[-Infinity]", "-Infinity is not JSON"),
    (b"[1e400]", "overflows to infinity"),
    (b'"\\ud800"', "lone surrogate"),
    (b'{"k": "\\udfff x"}', "lone surrogate in the string at /k"),
    (b"[" * 101 + b"]" * 101, "nested deeper than 100"),
    (b'["]]]]]]]]]]", ' + b"[" * 120 + b"]" * 120 + b"]", "nested deeper than 100"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{", "not JSON"),
    (b"[1, 2", "not JSON"),
])
def test_decoder_rejects(payload: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why.replace("[", r"\[")):
        decode_payload(payload)


def test_decoder_accepts_surrogate_pairs_and_deep_but_allowed_nesting() -> None:
    assert decode_payload(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert decode_payload(b"[" * 100 + b"]" * 100) is not None
    # brackets inside strings do not count as nesting
    assert decode_payload(json.dumps(["[" * 500]).encode()) == ["[" * 500]


@pytest.mark.parametrize(("value", "why"), [
    ({"x": math.nan}, "at /x: nan"),
    ([1, math.inf], "at /1: inf"),
    ({"a": b"raw"}, "at /a: a bytes"),
    ({1: "x"}, "object key 1 is a int"),
    ({"a": [{"b": {2.5: 1}}]}, "object key 2.5"),
    ("\ud800", "lone surrogate"),
    ({"s": {1, 2}}, "at /s: a set"),
])
def test_encoder_rejects_what_json_cannot_hold(value: Any, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        encode_frame(value)


def test_encoder_enforces_the_size_cap() -> None:
    assert encode_frame("x" * 100, max_bytes=102)
    with pytest.raises(FrameError, match="above the 101-byte frame limit"):
        encode_frame("x" * 100, max_bytes=101)


def test_reader_handles_split_frames_and_rejects_oversized_headers() -> None:
    r, w = os.pipe()
    try:
        reader = FrameReader(r, max_bytes=1000)
        frame = encode_frame({"op": "x", "n": list(range(50))})
        write_all(w, frame[:3])
        write_all(w, frame[3:] + encode_frame([1]))
        assert reader.read() == {"op": "x", "n": list(range(50))}
        assert reader.buffered()
        assert reader.read() == [1]
        write_all(w, struct.pack(">I", 1001))
        with pytest.raises(FrameError, match="announces 1001 bytes"):
            reader.read()
        os.close(w)
        w = -1
        with pytest.raises(EOFError):
            FrameReader(r).read()
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_reader_gives_up_when_wait_says_so() -> None:
    r, w = os.pipe()
    try:
        assert FrameReader(r).read(wait=lambda: False) is None
    finally:
        os.close(r)
        os.close(w)


def _registry() -> PluginRegistry:
    return PluginRegistry(api_version="1.2", core_version="1.2.0", workspace="/ws",
                          temp_dir="/tmp/x", settings={"locale": "en_US", "nested": {"a": [1]}},
                          logger=logging.getLogger("test"))


@pytest.mark.parametrize("mutation", [
    lambda r: setattr(r, "api_version", "1.0"),
    lambda r: setattr(r, "new_attribute", 1),
    lambda r: delattr(r, "workspace"),
    lambda r: r.settings.__setitem__("locale", "de"),
    lambda r: r.settings.__delitem__("locale"),
    lambda r: setattr(r.settings, "_data", {}),
    lambda r: r.settings["nested"].__setitem__("a", 2),
])
def test_registry_is_immutable(mutation: Any) -> None:
    registry = _registry()
    with pytest.raises(PermissionError):
        mutation(registry)
    assert registry.api_version == "1.2"
    assert dict(registry.settings)["locale"] == "en_US"


def test_registry_settings_read_like_a_mapping() -> None:
    registry = _registry()
    assert registry.settings["nested"]["a"] == (1,)
    assert sorted(registry.settings) == ["locale", "nested"]
    assert registry.settings.get("missing", 5) == 5
    assert isinstance(registry.logger, logging.Logger)


def test_worker_imports_only_the_standard_library() -> None:
    import ast
    import sys
    from pathlib import Path

    import vcs_conformance._worker as worker

    tree = ast.parse(Path(worker.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    assert names - {"__future__"} <= set(sys.stdlib_module_names), names
