"""Payloads for the checks, generated from the schemas in ``schemas/``.

Valid values come from :func:`~vcs_conformance._schema_strategies.from_schema`
over the core's schemas, narrowed by what the manifest declares (``voices``,
``sample_rates``, ``config_schema``).  Invalid variants exist only where SPEC
5 says input is invalid; an extra key is never one.

Every strategy also carries *edge examples* that always run first (explicit
``@example``s): a question, a 300+ character text, non-ASCII scripts, each
declared voice and sample rate.  Defects that only such inputs trigger must
be found at the derandomized ``ci`` profile, every time, not by luck.

Strategies are built once per process and shared (``functools.cache``,
keyed by what the manifest declares): hypothesis validates a strategy the
first time it is used, which for schema-generated ones (regexes, character
classes) costs far more than drawing from it, so a strategy rebuilt per
check, or worse per example, paid that again and again.
"""

from __future__ import annotations

import functools
import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
from hypothesis.strategies import SearchStrategy

from .. import schemas
from .._schema_strategies import from_schema, unicode_characters
from ..workspace import DatasetRow

__all__ = ["EDGE_TEXTS", "TEXTS", "DatasetRow", "Invalid", "configs", "dataset_rows",
           "edge_invalid_synthesize", "edge_voice_configs", "invalid_configs",
           "invalid_datasets", "invalid_synthesize", "voice_configs"]

#: Texts that exercise what real engines trip over.
EDGE_TEXTS: tuple[str, ...] = (
    "Hello world.",
    "Is this a question?",
    "The quick brown fox jumps over the lazy dog. " * 8,  # 360 characters
    "Ünïcödé façade: naïve café, Straße, ÆØÅ.",
    "مرحبا بالعالم",  # RTL
    "שלום עולם",
    "你好\uff0c世界\u3002",  # fullwidth comma and full stop
    "Emoji 👋🏽 and a family 👨‍👩‍👧 and flags 🇫🇷.",
    "e\u0301 a\u0308 n\u0303 combining marks",
    "?!...",
    "x" * 5000,
)
_SENTENCE_ALPHABET = string.ascii_letters + string.digits + " .,;:!?'\"-()"


#: Words of the scripts real engines trip over, mixed into generated texts so that
#: every run meets them, whatever the hypothesis version's uniform draws favour.
_SCRIPT_WORDS: tuple[str, ...] = (
    "hello", "voice", "Straße", "naïve", "e\u0301te\u0301", "a\u0308\u0301",
    "\u6f22\u5b57", "\u4f60\u597d", "\u3053\u3093\u306b\u3061\u306f", "\ud55c\uad6d\uc5b4",
    "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u200f\u05d0",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\U0001f44b\U0001f3fd", "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "?", "!?",
    "\u00a0", "...", "42",
)


def _script_words(parts: tuple[int, int]) -> str:
    count, code = parts
    words = []
    for _ in range(count):
        code, index = divmod(code, len(_SCRIPT_WORDS))
        words.append(_SCRIPT_WORDS[index])
    return " ".join(words)


def _repeat_to(parts: tuple[str, int, str]) -> str:
    sentence, size, sep = parts
    return ((sentence + sep) * (size // (len(sentence) + 1) + 1))[:size]


def _texts() -> SearchStrategy[str]:
    text_schema = {"$ref": schemas.schema_uri("defs") + "#/$defs/text"}
    generated = from_schema(text_schema, registry=schemas.registry())
    sentences = st.text(_SENTENCE_ALPHABET, min_size=1, max_size=300)
    # Long texts (301 to 5,000 characters) repeat a drawn sentence up to a drawn
    # length, by lines or in one paragraph: the length is what stresses an engine,
    # and drawing 5,000 characters one by one cost 3 ms per example.
    long_texts = st.tuples(sentences, st.integers(301, 5000),
                           st.sampled_from((" ", "\n"))).map(_repeat_to)
    # 1-12 script words from two integers (a count, then base-N digits picking the words):
    # two hypothesis choices instead of two per word; shrinks to "hello".
    scripts = st.tuples(st.integers(1, 12),
                        st.integers(0, len(_SCRIPT_WORDS) ** 12 - 1)).map(_script_words)
    # The schema-generated branch is valid by construction; the others can come out
    # all white space (a sentence of spaces, a script word that is a no-break space),
    # which SPEC 5 calls invalid: their last character becomes a letter.  A map, not a
    # filter: hypothesis' filter machinery cost more than the texts it rejected.
    return st.one_of(sentences.map(_speakable), scripts.map(_speakable), generated,
                     long_texts.map(_speakable))


def _speakable(text: str) -> str:
    """``text`` if it has a character that is not white space, else the same length with
    its last character an ``x`` (``\\S`` in the text schema; lengths stay 1-5,000)."""
    return text if text.strip() else text[:-1] + "x"


TEXTS = _texts()


#: voice_config keys whose valid values come from the manifest, not the schema (SPEC 5).
_MANIFEST_KEYS = ("model", "voice", "sample_rate")


def voice_configs(api: str, *, voices: Sequence[str] | None,
                  sample_rates: Sequence[int] | None,
                  model: str | None = None) -> SearchStrategy[dict[str, Any]]:
    """Valid ``voice_config`` objects of ``api`` for a plugin with this manifest.

    ``voice`` and ``sample_rate`` are drawn from the manifest's lists, and
    left out without them (SPEC 5); ``model`` is ``model`` or absent.  One
    strategy per distinct manifest, shared by every check that asks.
    """
    return _voice_configs(api, _frozen(voices), _frozen(sample_rates), model)


def _frozen(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


@functools.cache
def _voice_configs(api: str, voices: tuple[str, ...] | None,
                   sample_rates: tuple[int, ...] | None,
                   model: str | None) -> SearchStrategy[dict[str, Any]]:
    """The core's ``voice_config`` schema narrowed by the manifest, generated.

    The keys the manifest decides are narrowed *in the schema* (``voice`` and
    ``sample_rate`` to ``enum`` of the declared lists, or removed without
    them; ``model`` to its ``const``, or removed), so one object is drawn
    with the schema's own keys (``rate``/``speed``, ``pitch``) and unknown
    extra keys: drawing the schema's versions first and replacing them only
    cost time (the ``model`` path alone is a regex over all of Unicode).
    """
    schema = schemas.load_schema("voice_config", api)
    props: dict[str, Any] = {k: v for k, v in schema.get("properties", {}).items()
                             if k not in _MANIFEST_KEYS}
    if voices:
        props["voice"] = {"enum": list(voices)}
    if sample_rates:
        props["sample_rate"] = {"enum": list(sample_rates)}
    required = list(schema.get("required", []))
    if model is not None:
        props["model"] = {"const": model}
        required.append("model")
    narrowed = {**schema, "properties": props, "required": required}
    return from_schema(narrowed, registry=schemas.registry(), extra_keys=True)


def edge_voice_configs(voices: Sequence[str] | None,
                       sample_rates: Sequence[int] | None) -> list[dict[str, Any]]:
    """One config per declared voice and per declared rate, plus the empty one."""
    out: list[dict[str, Any]] = [{}]
    out += [{"voice": v} for v in voices or ()]
    out += [{"sample_rate": r} for r in sample_rates or ()]
    return out


@dataclass(frozen=True)
class Invalid:
    """An invalid input and the SPEC rule that makes it invalid."""

    why: str
    args: tuple[Any, ...]


def invalid_synthesize(api: str, *, voices: Sequence[str] | None,
                       sample_rates: Sequence[int] | None) -> SearchStrategy[Invalid]:
    """SPEC 5's invalid synthesize inputs, each with a valid rest."""
    return _invalid_synthesize(api, _frozen(voices), _frozen(sample_rates))


@functools.cache
def _number_bounds(api: str, key: str) -> tuple[float, float]:
    """``minimum``/``maximum`` of ``voice_config.<key>`` in the core's schema.

    The invalid variants are the schema's own bounds crossed, so a change of
    the range in ``schemas/`` moves the valid and the invalid payloads together.
    """
    uri = schemas.schema_uri("voice_config", api)
    node = schemas.inline_refs(schemas.load_schema("voice_config", api), uri)["properties"][key]
    while "minimum" not in node and isinstance(node.get("allOf"), list):
        node = next(n for n in node["allOf"] if "minimum" in n or "allOf" in n)
    return float(node["minimum"]), float(node["maximum"])


def _outside(lo: float, hi: float) -> SearchStrategy[float]:
    return st.one_of(st.floats(max_value=lo, exclude_max=True, allow_nan=False,
                               allow_infinity=False),
                     st.floats(min_value=hi, exclude_min=True, allow_nan=False,
                               allow_infinity=False))


def _range_why(key: str, lo: float, hi: float) -> str:
    return f"{key} out of {lo:g}..{hi:g}"


@functools.cache
def _invalid_synthesize(api: str, voices: tuple[str, ...] | None,
                        sample_rates: tuple[int, ...] | None) -> SearchStrategy[Invalid]:
    rate_key = "rate" if api == "1.2" else "speed"
    rate_lo, rate_hi = _number_bounds(api, rate_key)
    pitch_lo, pitch_hi = _number_bounds(api, "pitch")
    blank = st.text(" \t\n\r\u00a0\u2003\u3000", min_size=0, max_size=20)
    bad_rate = _outside(rate_lo, rate_hi)
    bad_pitch = _outside(pitch_lo, pitch_hi)
    bad_voice = st.text(unicode_characters(), min_size=1, max_size=20).filter(
        lambda v: v not in (voices or ()))
    bad_rates = st.integers(1, 200_000).filter(lambda r: r not in (sample_rates or ()))
    missing_model = st.text(string.ascii_lowercase, min_size=1, max_size=12).map(
        lambda n: f"models/does-not-exist-{n}.bin")
    options = [
        blank.map(lambda t: Invalid("empty or whitespace-only text", (t, {}))),
        bad_rate.map(lambda r: Invalid(_range_why(rate_key, rate_lo, rate_hi),
                                       ("Hello.", {rate_key: r}))),
        bad_pitch.map(lambda p: Invalid(_range_why("pitch", pitch_lo, pitch_hi),
                                        ("Hello.", {"pitch": p}))),
        missing_model.map(lambda m: Invalid("model path that does not exist",
                                            ("Hello.", {"model": m}))),
    ]
    if voices:
        options.append(bad_voice.map(lambda v: Invalid("voice the manifest does not list",
                                                       ("Hello.", {"voice": v}))))
    if sample_rates:
        options.append(bad_rates.map(lambda r: Invalid(
            "sample_rate the manifest does not list", ("Hello.", {"sample_rate": r}))))
    return st.one_of(options)


def edge_invalid_synthesize(api: str, *, voices: Sequence[str] | None,
                            sample_rates: Sequence[int] | None) -> list[Invalid]:
    rate_key = "rate" if api == "1.2" else "speed"
    out = [Invalid("empty or whitespace-only text", ("", {})),
           Invalid("empty or whitespace-only text", ("  \n\t ", {}))]
    for key in (rate_key, "pitch"):  # just past each bound, and well past
        lo, hi = _number_bounds(api, key)
        why = _range_why(key, lo, hi)
        out += [Invalid(why, ("Hello.", {key: value}))
                for value in (math.nextafter(lo, -math.inf), lo - 1.0,
                              math.nextafter(hi, math.inf), hi + 1.0)]
    out.append(Invalid("model path that does not exist",
                       ("Hello.", {"model": "models/missing.bin"})))
    if voices:
        out.append(Invalid("voice the manifest does not list",
                           ("Hello.", {"voice": "no-such-voice"})))
    if sample_rates:
        bad = next(r for r in (8001, 11111, 47999, 12345) if r not in sample_rates)
        out.append(Invalid("sample_rate the manifest does not list",
                           ("Hello.", {"sample_rate": bad})))
    return out


def configs(config_schema: Mapping[str, Any] | None) -> SearchStrategy[dict[str, Any]]:
    """Valid ``init`` configs: from ``config_schema``, else just ``{}`` (SPEC 5)."""
    if config_schema is None:
        return st.just({})
    key = _schema_key(config_schema)
    return from_schema(config_schema) if key is None else _configs(key)


def _schema_key(schema: Mapping[str, Any]) -> str | None:
    """Canonical JSON of a schema, the cache key; None when it is not plain JSON."""
    try:
        return json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None


@functools.cache
def _configs(key: str) -> SearchStrategy[dict[str, Any]]:
    return from_schema(json.loads(key))


def invalid_configs(config_schema: Mapping[str, Any]) -> SearchStrategy[Invalid]:
    """Configs that break ``config_schema``: wrong types, missing required, unknown keys.

    Drawn by mutating valid configs and kept only when the schema really
    rejects them, so a permissive schema yields no false "invalid" input.
    """
    key = _schema_key(config_schema)
    return _invalid_configs(config_schema) if key is None else _cached_invalid_configs(key)


@functools.cache
def _cached_invalid_configs(key: str) -> SearchStrategy[Invalid]:
    return _invalid_configs(json.loads(key))


def _invalid_configs(config_schema: Mapping[str, Any]) -> SearchStrategy[Invalid]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(dict(config_schema))
    props = dict(config_schema.get("properties", {}))
    required = list(config_schema.get("required", []))
    valid = configs(config_schema)
    wrong = st.sampled_from([[1, 2], {"nested": True}, "text", 12345, None, True])
    moves = []
    if props:
        moves.append("retype")
    if required:
        moves.append("drop")
    if config_schema.get("additionalProperties") is False:
        moves.append("extra")
    moves.append("not-object")

    @st.composite
    def mutate(draw: st.DrawFn) -> Invalid:
        move = draw(st.sampled_from(moves))
        if move == "not-object":
            return Invalid("not an object", (draw(st.sampled_from([[], "config", 3])),))
        config = dict(draw(valid))
        if move == "retype":
            key = draw(st.sampled_from(sorted(props)))
            config[key] = draw(wrong)
            why = f"{key!r} of the wrong type"
        elif move == "drop":
            key = draw(st.sampled_from(required))
            config.pop(key, None)
            why = f"required {key!r} missing"
        else:
            config["zz_not_in_schema"] = 1
            why = "a key the schema does not allow"
        return Invalid(why, (config,))

    return mutate().filter(lambda inv: not validator.is_valid(inv.args[0]))


#: ``[A-Za-z0-9_-]{1,24}`` (SPEC 4 allows 64), drawn as one string rather than
#: through ``from_regex``, which draws a regex character by character.
_ID = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=24)
#: Any Unicode but what breaks an LJSpeech row: ``|``, line breaks, controls.
_ROW_TEXT = st.text(st.characters(exclude_characters="|\n\r\x85\u2028\u2029",
                                  exclude_categories=("Cs", "Cc")),
                    min_size=1, max_size=60).filter(lambda t: t.strip() != "")
RATES = st.one_of(st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]),
                  st.integers(8000, 48000))
#: One row: id, text, normalized text, duration, F0, "shares the dataset's rate"
#: (4 in 5), its own rate otherwise.
_ROW = st.tuples(_ID, _ROW_TEXT, st.none() | _ROW_TEXT, st.floats(0.05, 1.2),
                 st.floats(80, 260), st.integers(0, 4), RATES)


@functools.cache
def dataset_rows(max_rows: int = 4) -> SearchStrategy[list[DatasetRow]]:
    """Rows of a valid LJSpeech dataset: unique ids, real audio, one rate or several.

    Ids are unique ignoring case (a dataset must survive a case-insensitive
    file system).  One shared strategy per ``max_rows``.
    """
    def build(parts: tuple[int, list[tuple[Any, ...]]]) -> list[DatasetRow]:
        rate, rows = parts
        return [DatasetRow(id=ident, text=text, normalized_text=normalized,
                           sample_rate=rate if shared else own, duration_s=duration,
                           f0_hz=f0)
                for ident, text, normalized, duration, f0, shared, own in rows]

    rows = st.lists(_ROW, min_size=1, max_size=max_rows, unique_by=lambda r: r[0].lower())
    return st.tuples(RATES, rows).map(build)


@functools.cache
def _dataset_rules(api: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required keys, required item keys) of the core's Dataset.

    Read from ``schemas/<api>/dataset.schema.json``, so the invalid variants
    follow the schema: a key it stops requiring stops being removed.  Only
    required keys are retyped too: an optional one the API does not define
    (``duration_s`` before 1.2) is a key the plugin ignores (SPEC 4).
    """
    uri = schemas.schema_uri("dataset", api)
    schema = schemas.inline_refs(schemas.load_schema("dataset", api), uri)
    item = schema["properties"]["items"]["items"]
    parts = [item, *item.get("allOf", ())]
    required = tuple(dict.fromkeys(k for part in parts for k in part.get("required", ())))
    return tuple(schema.get("required", ())), required


#: A value of each JSON type: whichever a key's schema refuses is a wrong type.
_WRONG_TYPED: tuple[Any, ...] = (123, "text", None, ["x"], {"a": 1}, True)


def invalid_datasets(dataset: Mapping[str, Any], api: str) -> SearchStrategy[Invalid]:
    """Mutations of a valid Dataset that SPEC 5 calls invalid input for ``train``.

    A required key missing and a value of the wrong type come from the core's
    schema (each candidate is kept only when the schema refuses the result);
    no items, audio that does not exist and a Dataset that is not an object
    are SPEC 5's own words.
    """
    items = list(dataset["items"])
    top_required, item_required = _dataset_rules(api)
    fast = schemas.fast_check("dataset", api)  # called per example by shim-equivalence
    valid = fast if fast is not None else schemas.validator("dataset", api).is_valid

    def first_item_without(key: str) -> dict[str, Any]:
        return {**dataset, "items": [{k: v for k, v in items[0].items() if k != key},
                                     *items[1:]]}

    def first_item_with(key: str, value: Any) -> dict[str, Any]:
        return {**dataset, "items": [{**items[0], key: value}, *items[1:]]}

    missing = [Invalid(f"item without required {key!r}", (first_item_without(key),))
               for key in item_required]
    missing += [Invalid(f"Dataset without required {key!r}",
                        ({k: v for k, v in dataset.items() if k != key},))
                for key in top_required]
    retyped = [Invalid(f"item {key!r} of the wrong type ({type(value).__name__})",
                       (first_item_with(key, value),))
               for key in item_required for value in _WRONG_TYPED]
    retyped = [inv for inv in retyped if not valid(inv.args[0])]
    options = [
        st.sampled_from(missing),
        st.sampled_from(retyped),
        st.just(Invalid("no items", ({**dataset, "items": []},))),
        st.just(Invalid("items is not a list", ({**dataset, "items": "all"},))),
        st.just(Invalid("dataset is not an object", (["not", "a", "dataset"],))),
        st.text(string.ascii_lowercase, min_size=1, max_size=10).map(lambda n: Invalid(
            "audio that does not exist",
            ({**dataset, "items": [{**items[0], "audio": f"datasets/missing/{n}.wav"},
                                   *items[1:]]},))),
    ]
    return st.one_of(options)
