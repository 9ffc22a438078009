"""What the plugin offers (voices, rates) and the options ``init`` accepts.

The same facts appear in ``vcs_plugin.yaml`` (``voices``, ``sample_rates``)
and ``config_schema.json``; the host reads those, the code below enforces
them.  They are repeated rather than parsed at run time because the plugin
imports only the standard library and YAML is not in it; the test suite
checks that the three stay identical (``tests/test_manifest.py``).

:func:`parse_config` accepts exactly what ``config_schema.json`` accepts:
the kit generates configs from that schema and expects every valid one to
pass and every invalid one to raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from ._validate import as_int

__all__ = ["SAMPLE_RATES", "VOICES", "Config", "parse_config"]

#: espeak-ng voices this plugin declares.  Only voices that ship with the
#: ``espeak-ng`` package itself: the ``mb-*`` (mbrola) voices are listed by
#: ``espeak-ng --voices`` but need separately installed databases.
VOICES: Final[tuple[str, ...]] = ("en-us", "en-gb", "de", "fr-fr", "es", "it", "ru", "cmn")
#: Output rates ``synthesize`` resamples to (espeak-ng itself writes 22050 Hz).
SAMPLE_RATES: Final[tuple[int, ...]] = (8000, 16000, 22050, 24000, 44100, 48000)


@dataclass(frozen=True)
class Config:
    """The effective options; every field has a default so ``init`` is optional."""

    default_voice: str = "en-us"
    default_sample_rate: int | None = None
    word_gap_ms: int = 0
    amplitude: int = 100


def _bounded_int(value: object, field: str, low: int, high: int) -> int:
    number = as_int(value, field)
    if not low <= number <= high:
        raise ValueError(f"{field} must be from {low} to {high}, got {value!r}")
    return number


def parse_config(config: object) -> Config:
    """Validate ``init``'s argument against ``config_schema.json``; unknown keys ignored."""
    if not isinstance(config, Mapping):
        raise ValueError("config must be an object (a JSON mapping of option names to values)")
    result = Config()
    if "default_voice" in config:
        voice = config["default_voice"]
        if not isinstance(voice, str) or voice not in VOICES:
            raise ValueError(f"config.default_voice must be one of {', '.join(VOICES)}; "
                             f"got {voice!r}")
        result = replace(result, default_voice=voice)
    if "default_sample_rate" in config:
        rate = config["default_sample_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) \
                or rate not in SAMPLE_RATES:
            raise ValueError("config.default_sample_rate must be one of "
                             f"{', '.join(map(str, SAMPLE_RATES))}; got {rate!r}")
        result = replace(result, default_sample_rate=int(rate))
    if "word_gap_ms" in config:
        gap = _bounded_int(config["word_gap_ms"], "config.word_gap_ms", 0, 1000)
        result = replace(result, word_gap_ms=gap)
    if "amplitude" in config:
        loudness = _bounded_int(config["amplitude"], "config.amplitude", 10, 200)
        result = replace(result, amplitude=loudness)
    return result
