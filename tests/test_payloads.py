"""The check payloads: valid where SPEC says valid, invalid where it says invalid, varied.

Every generated value is judged by the kit's schemas through
``Draft202012Validator`` (or by SPEC 5's rule where no schema says it),
independently of the generator; coverage tests make sure the payloads still
reach what real engines trip over (combining marks, emoji, RTL, CJK, long
texts, questions, each declared voice and rate).  Runs are derandomized.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from vcs_conformance import schemas
from vcs_conformance._checks import _payloads as pay
from vcs_conformance._schema_strategies import spiced_text

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])
VOICES = ("tone-low", "tone-high")
RATES = (16000, 22050)
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"style": {"enum": ["plain", "bright"]},
                   "gain": {"type": "number", "minimum": 0, "maximum": 2}},
    "required": ["style"], "additionalProperties": False}


def _collect(strategy: Any, examples: int = 150) -> list[Any]:
    out: list[Any] = []

    @settings(SETTINGS, max_examples=examples)
    @given(strategy)
    def draw(value: Any) -> None:
        out.append(value)

    draw()
    return out


def _text_ok(text: str) -> bool:
    return bool(schemas.defs_validator("text").is_valid(text))


# -- texts -------------------------------------------------------------------------

def test_every_text_is_valid() -> None:
    texts = _collect(pay.TEXTS, 300)
    bad = [t for t in texts if not _text_ok(t)]
    assert not bad, f"invalid texts: {bad[:3]!r}"
    assert all(_text_ok(t) for t in pay.EDGE_TEXTS)


_TEXT_FEATURES: dict[str, Callable[[str], bool]] = {
    "non-ASCII": lambda s: any(ord(c) > 127 for c in s),
    "combining mark": lambda s: any(unicodedata.combining(c) for c in s),
    "emoji": lambda s: any(0x1F300 <= ord(c) <= 0x1FAFF for c in s),
    "right-to-left": lambda s: any(unicodedata.bidirectional(c) in ("R", "AL") for c in s),
    "CJK": lambda s: any(0x4E00 <= ord(c) <= 0x9FFF for c in s),
    "question mark": lambda s: "?" in s,
    "over 300 characters": lambda s: len(s) > 300,
    "over 2,000 characters": lambda s: len(s) > 2000,
}


@pytest.mark.parametrize("feature", sorted(_TEXT_FEATURES))
def test_edge_texts_cover(feature: str) -> None:
    """The edge examples run first at every profile: each feature, every time."""
    assert any(_TEXT_FEATURES[feature](t) for t in pay.EDGE_TEXTS)
    assert max(len(t) for t in pay.EDGE_TEXTS) == 5000


def test_generated_texts_cover_unicode_and_length() -> None:
    texts = _collect(pay.TEXTS, 300)
    unmet = {name for name, test in _TEXT_FEATURES.items() if not any(test(t) for t in texts)}
    assert unmet == set()
    assert max(len(t) for t in texts) <= 5000


def test_spiced_text_keeps_its_bounds_and_spices() -> None:
    texts = _collect(spiced_text(3, 9), 300)
    assert all(3 <= len(t) <= 9 for t in texts)
    assert all(c < "\ud800" or c > "\udfff" for t in texts for c in t), "a lone surrogate"
    assert any("\u200d" in t or "\U0001f600" in t or "\u0301" in t for t in texts)
    assert any(ord(c) > 0xFFFF for t in texts for c in t), "no astral character"


# -- voice configs -----------------------------------------------------------------

@pytest.mark.parametrize("api", ["1.0", "1.1", "1.2"])
@pytest.mark.parametrize(("voices", "rates"), [(VOICES, RATES), (None, None)],
                         ids=["declared", "undeclared"])
def test_voice_configs_are_valid_and_follow_the_manifest(
        api: str, voices: tuple[str, ...] | None, rates: tuple[int, ...] | None) -> None:
    validator = schemas.validator("voice_config", api)
    configs = _collect(pay.voice_configs(api, voices=voices, sample_rates=rates))
    for config in configs:
        errors = list(validator.iter_errors(config))
        assert not errors, f"{config!r}: {errors[0].message}"
        assert "model" not in config
        assert "voice" not in config or config["voice"] in (voices or ())
        assert "sample_rate" not in config or config["sample_rate"] in (rates or ())
    rate_key = "rate" if api == "1.2" else "speed"
    seen = {key for c in configs for key in c}
    assert {rate_key, "pitch"} <= seen
    assert any(k.startswith("x_") for k in seen), "no unknown key (SPEC 4: must be ignored)"
    if voices and rates:
        assert {c["voice"] for c in configs if "voice" in c} == set(voices)
        assert {c["sample_rate"] for c in configs if "sample_rate" in c} == set(rates)
    else:
        assert not {"voice", "sample_rate"} & seen


def test_voice_configs_with_a_model() -> None:
    configs = _collect(pay.voice_configs("1.2", voices=VOICES, sample_rates=RATES,
                                         model="models/m.bin"), 40)
    assert all(c["model"] == "models/m.bin" for c in configs)


def test_edge_voice_configs_name_each_declared_voice_and_rate() -> None:
    edges = pay.edge_voice_configs(list(VOICES), list(RATES))
    assert {} in edges
    assert {e["voice"] for e in edges if "voice" in e} == set(VOICES)
    assert {e["sample_rate"] for e in edges if "sample_rate" in e} == set(RATES)


def test_strategies_are_built_once_per_manifest() -> None:
    """Hypothesis validates a strategy on first use: a rebuilt one pays again."""
    assert pay.voice_configs("1.2", voices=list(VOICES), sample_rates=list(RATES)) is \
        pay.voice_configs("1.2", voices=VOICES, sample_rates=RATES)
    assert pay.configs(CONFIG_SCHEMA) is pay.configs(dict(CONFIG_SCHEMA))
    assert pay.invalid_configs(CONFIG_SCHEMA) is pay.invalid_configs(dict(CONFIG_SCHEMA))
    assert pay.invalid_synthesize("1.2", voices=VOICES, sample_rates=RATES) is \
        pay.invalid_synthesize("1.2", voices=list(VOICES), sample_rates=list(RATES))
    assert pay.dataset_rows(max_rows=3) is pay.dataset_rows(max_rows=3)


# -- invalid synthesize input ----------------------------------------------------

def _synthesize_invalid(api: str, text: Any, config: dict[str, Any]) -> bool:
    """SPEC 5's rule, spelled out: blank text, or a config key out of its range/list."""
    if not isinstance(text, str) or not text.strip():
        return True
    if not schemas.validator("voice_config", api).is_valid(config):
        return True
    return (("voice" in config and config["voice"] not in VOICES)
            or ("sample_rate" in config and config["sample_rate"] not in RATES)
            or str(config.get("model", "")).startswith("models/"))


@pytest.mark.parametrize("api", ["1.1", "1.2"])
def test_invalid_synthesize_inputs_are_invalid(api: str) -> None:
    drawn = _collect(pay.invalid_synthesize(api, voices=VOICES, sample_rates=RATES))
    edges = pay.edge_invalid_synthesize(api, voices=VOICES, sample_rates=RATES)
    for inv in [*drawn, *edges]:
        assert _synthesize_invalid(api, *inv.args), inv
    whys = {inv.why for inv in drawn}
    assert any("voice" in w for w in whys) and any("sample_rate" in w for w in whys)
    assert any("text" in w for w in whys) and any("pitch" in w for w in whys)


# -- init configs ------------------------------------------------------------------

def test_configs_valid_and_invalid() -> None:
    validator = Draft202012Validator(CONFIG_SCHEMA)
    assert all(validator.is_valid(c) for c in _collect(pay.configs(CONFIG_SCHEMA)))
    invalid = _collect(pay.invalid_configs(CONFIG_SCHEMA))
    assert all(not validator.is_valid(inv.args[0]) for inv in invalid)
    assert {"not an object", "a key the schema does not allow"} <= {i.why for i in invalid}
    assert _collect(pay.configs(None), 5) == [{}]


# -- datasets ----------------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9_-]{1,24}")


def test_dataset_rows_are_valid_ljspeech_rows() -> None:
    datasets = _collect(pay.dataset_rows(), 200)
    for rows in datasets:
        assert 1 <= len(rows) <= 4
        assert len({r.id.lower() for r in rows}) == len(rows), "ids not unique (any case)"
        for row in rows:
            assert _ID.fullmatch(row.id)
            for text in (row.text, row.normalized_text):
                if text is not None:
                    assert text.strip() and not set(text) & set("|\n\r\x85\u2028\u2029")
                    text.encode("utf-8")
            assert 8000 <= row.sample_rate <= 48000
            assert 0.05 <= row.duration_s <= 1.2 and 80 <= row.f0_hz <= 260
    rows_flat = [r for rows in datasets for r in rows]
    assert any(r.normalized_text is not None for r in rows_flat)
    assert any(any(ord(c) > 127 for c in r.text) for r in rows_flat)
    assert any(len({r.sample_rate for r in rows}) > 1 for rows in datasets), \
        "no dataset mixing sample rates"
    assert len({r.sample_rate for r in rows_flat}) > 5
