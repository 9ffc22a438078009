"""Checks shared by the hooks: JSON numbers, workspace paths, text.

Why hand-written checks and not jsonschema: the plugin imports only the
standard library (see ``_audio``), and the rules are few.  Every failure is a
:class:`ValueError` whose message starts with the field it is about
(``voice_config.rate``, ``dataset.items[3].audio``), because SPEC 5 makes
``ValueError`` the one way to say "your input is wrong" and the host shows
the message to a person who has to find the mistake.

JSON has one number type, so an integer field accepts ``16000.0`` exactly as
JSON Schema does, and ``true`` is never a number although Python's ``bool``
is an ``int``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Final, Literal

__all__ = [
    "MAX_TEXT_CHARS",
    "as_int",
    "as_number",
    "check_text",
    "resolve",
]

MAX_TEXT_CHARS: Final = 5000
#: SPEC 5 / the kit's schema: at least one character that is not white space.
_NOT_SPACE: Final = re.compile(r"\S")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def as_number(value: object, field: str, low: float, high: float) -> float:
    """``value`` as a finite float in [low, high], else ``ValueError`` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number from {low:g} to {high:g}, "
                         f"got {_kind(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{field} must be from {low:g} to {high:g}, got {value!r}")
    return float(value)


def as_int(value: object, field: str) -> int:
    """``value`` as an int; JSON's ``16000.0`` counts, ``true`` and ``16000.5`` do not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be an integer, got {_kind(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{field} must be an integer, got {value!r}")
    return int(value)


def check_text(text: object, field: str = "text") -> str:
    """Valid synthesis text (SPEC 5): 1-5000 characters, not all white space, encodable.

    A Python ``str`` cannot hold invalid UTF-8, but it can hold lone
    surrogates (``json.loads('"\\ud800"')`` makes one); they have no UTF-8 form,
    so they are rejected here rather than crashing the encoder later.
    """
    if not isinstance(text, str):
        raise ValueError(f"{field} must be a string, got {_kind(text)}")
    if not text:
        raise ValueError(f"{field} is empty; give 1 to {MAX_TEXT_CHARS} characters")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{field} has {len(text)} characters; at most {MAX_TEXT_CHARS} "
                         f"are accepted (split it into several calls)")
    if not _NOT_SPACE.search(text):
        raise ValueError(f"{field} is only white space; there is nothing to say")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{field} holds a lone surrogate (U+{ord(text[exc.start]):04X}) at "
                         f"character {exc.start}, which is not valid Unicode text") from None
    return text


def resolve(workspace: Path, value: object, field: str, *,
            kind: Literal["file", "dir"]) -> tuple[Path, str]:
    """Check a workspace path argument; return the absolute path and its POSIX form.

    SPEC 4: relative, POSIX, no ``..``, and inside the workspace once
    symlinks are followed.  ``kind`` is ``"file"`` or ``"dir"``: the path must
    exist as that.  The returned POSIX form is normalised (``a//b/./c`` ->
    ``a/b/c``) and is what results should carry.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a workspace-relative path string, "
                         f"got {_kind(value)}")
    if not value or "\x00" in value:
        raise ValueError(f"{field} must be a non-empty path without NUL characters")
    pure = PurePosixPath(value)
    if pure.is_absolute():
        raise ValueError(f"{field} {value!r} is absolute; paths are relative to the workspace")
    if ".." in pure.parts:
        raise ValueError(f"{field} {value!r} contains '..'; paths stay inside the workspace")
    if not pure.parts or pure.parts == (".",):
        raise ValueError(f"{field} {value!r} names the workspace itself")
    full = workspace.joinpath(*pure.parts)
    try:
        real = full.resolve()
        inside = real.is_relative_to(workspace.resolve())
        exists = real.is_file() if kind == "file" else real.is_dir()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
        raise ValueError(f"{field} {value!r} cannot be resolved: {exc}") from None
    if not inside:
        raise ValueError(f"{field} {value!r} resolves outside the workspace (a symlink?)")
    if not exists:
        what = "file" if kind == "file" else "directory"
        raise ValueError(f"{field} {value!r} does not exist (no such {what} in the workspace)")
    return full, pure.as_posix()
