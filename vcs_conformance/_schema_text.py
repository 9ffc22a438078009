"""The strings the schema generator draws: all of Unicode, spiced, and free-form JSON.

Split out of :mod:`._schema_strategies`.  Why these are their own module:
they decide what plugins see of Unicode (combining marks, emoji, RTL, CJK,
quotes, lone-surrogate-free), and they are where the generator's cost per
example hides (hypothesis draws a ``one_of`` alphabet character by
character), so they are shared, cached objects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import hypothesis.strategies as st
from hypothesis.strategies import SearchStrategy

__all__ = ["Text", "any_json", "default_alphabet", "keyed_objects", "spiced_text", "text_over",
           "unicode_characters"]

#: Draws strings of (min_size, max_size).
Text = Callable[[int, int | None], SearchStrategy[str]]

#: Characters uniform Unicode sampling rarely hits but text pipelines trip on:
#: combining marks, emoji and modifiers, ZWJ, RTL letters and controls, CJK.
_SPICE: Final = (
    "\u0301", "\u0308", "\u0327", "\u20dd", "\U0001f600", "\U0001f44d", "\U0001f3fd",
    "\u200d", "\u2764", "\ufe0f", "\u05e9", "\u05dc", "\u0639", "\u0644", "\u200f",
    "\u202e", "\u061f", "\u6f22", "\u0915", "\u094d", "\u00a0", "\u3000", "\ufeff", "?",
    "!", '"', "'", "\\", "\t",
)
_POSITIONS: Final = 1 << 13  # where a spice character goes, modulo the length
_SWAP_CODES: Final = 1 + len(_SPICE) * _POSITIONS  # 0: no swap


@functools.cache
def unicode_characters() -> SearchStrategy[str]:
    """Every code point UTF-8 can encode: all of Unicode but the surrogates.

    Why not ``characters(codec="utf-8")``, the same set: hypothesis computes
    a codec's character set by encoding all 1.1 million code points (about
    3 s, cached only in the ``.hypothesis`` folder of the current working
    directory, so paid again in every fresh checkout or CI job), while
    excluding the category ``Cs`` is a table lookup.  One shared object, so
    hypothesis validates it once per process.
    """
    return st.characters(exclude_categories=["Cs"])


@functools.cache
def default_alphabet() -> SearchStrategy[str]:
    """All of Unicode that UTF-8 can encode (no lone surrogates), plus spice.

    A character strategy for callers that want one; the generator's own
    strings come from :func:`spiced_text`, which draws the same characters
    far faster.
    """
    return st.one_of(unicode_characters(), st.sampled_from(_SPICE))


@functools.cache
def spiced_text(min_size: int = 0, max_size: int | None = None) -> SearchStrategy[str]:
    """Strings over all of Unicode with up to two spice characters swapped in.

    Why not ``st.text(default_alphabet())``: an alphabet that is a
    ``one_of`` makes hypothesis draw a string character by character (tens
    of microseconds each), while a plain character class is one choice for
    the whole string.  So the string is drawn over
    :func:`unicode_characters` and then up to two positions are replaced
    by :data:`_SPICE` characters (combining marks, emoji, ZWJ, RTL, CJK,
    quotes), which keeps the length, hence ``minLength``/``maxLength``.
    Shared per size pair, so hypothesis validates each once per process.
    """
    plain = st.text(unicode_characters(), min_size=min_size, max_size=max_size)
    if max_size == 0:
        return plain
    # One integer encodes up to two swaps (each: none, or which spice character
    # where): one choice for hypothesis instead of a list of them.
    swaps = st.integers(0, _SWAP_CODES ** 2 - 1)

    def season(parts: tuple[str, int]) -> str:
        text, code = parts
        if not text or not code:
            return text
        chars = list(text)
        for swap in divmod(code, _SWAP_CODES):
            if swap:
                spice, position = divmod(swap - 1, _POSITIONS)
                chars[position % len(chars)] = _SPICE[spice]
        return "".join(chars)

    return st.tuples(plain, swaps).map(season)


@functools.lru_cache(maxsize=8)
def any_json(text: Text) -> SearchStrategy[Any]:
    """Free-form JSON, two levels deep (``{"type": "object"}``, unconstrained extra keys).

    Scalars (every JSON type, strings over all of Unicode) and arrays or
    objects of them.  Not ``st.recursive``: deeper values cost several
    times more to draw and find nothing a plugin that ignores unknown keys
    (SPEC 4) would trip on that these do not.
    """
    scalars = (st.none(), st.booleans(), st.integers(),
               st.floats(allow_nan=False, allow_infinity=False), text(0, 20))
    leaf = st.one_of(scalars)
    # One flat one_of (a value costs one branch choice, not two), and small containers
    # with short keys over the same alphabet: what a plugin that ignores unknown keys
    # must survive is their types and nesting, not their size.  Not ``st.text()`` for
    # the keys: its default ``characters(codec="utf-8")`` encodes every code point
    # once per hypothesis storage dir (~1-3 s in a fresh checkout's first run).
    return st.one_of(*scalars, st.lists(leaf, max_size=2),
                     st.dictionaries(text(0, 8), leaf, max_size=2))


def text_over(alphabet: SearchStrategy[str]) -> Text:
    """Strings over a caller's alphabet (``from_schema(string_alphabet=...)``)."""
    @functools.cache
    def text(min_size: int, max_size: int | None) -> SearchStrategy[str]:
        return st.text(alphabet, min_size=min_size, max_size=max_size)
    return text


def keyed_objects(fixed: Mapping[str, SearchStrategy[Any]],
                  optional: Mapping[str, SearchStrategy[Any]],
                  extra: tuple[Sequence[int], Callable[[st.DrawFn, dict[str, Any]], None]]
                  | None = None) -> SearchStrategy[dict[str, Any]]:
    """Objects with every ``fixed`` key and any subset of the ``optional`` ones.

    Why not ``st.fixed_dictionaries(fixed, optional=...)``: it spends several
    hypothesis choices per optional key deciding whether and where it goes,
    which was a third of a voice config's draw time.  Here one integer is a
    bit mask of the optional keys present (it shrinks towards 0: no optional
    key), then one draw per present key.  Key order is the schema's.

    ``extra = (counts, add)``: the same integer also picks how many extra
    keys ``add(draw, obj)`` puts in (``counts[i]`` for its high part, so it
    shrinks to ``counts[0]``): one hypothesis choice per object instead of
    two, for every voice config the checks draw.
    """
    fixed = dict(fixed)
    names = list(optional)
    values = [optional[k] for k in names]
    counts, add = extra if extra is not None else ((0,), None)
    if not names and add is None:
        return st.fixed_dictionaries(fixed)
    width = len(names)
    masks = st.integers(0, (len(counts) << width) - 1)

    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        out = {key: draw(value) for key, value in fixed.items()}
        mask = draw(masks)
        for i, key in enumerate(names):
            if mask >> i & 1:
                out[key] = draw(values[i])
        if add is not None:
            for _ in range(counts[mask >> width]):
                add(draw, out)
        return out

    return objects()
