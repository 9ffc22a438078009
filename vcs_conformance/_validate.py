"""Validation of what a plugin returns: schemas plus SPEC sections 4 and 5.

Why the host checks rather than trusts: a plugin's result goes on to the
core, which will open the paths it names.  So every path is checked
lexically (POSIX, relative, normalised, no ``..``) and then *walked* inside
the workspace one component at a time with ``O_NOFOLLOW`` and ``dir_fd``
(symlinks are followed by hand and must stay inside).  Resolving with
``Path.resolve()`` and then opening would let a plugin swap a component for
a symlink in between: the host would be the confused deputy.  WAV headers
are read through the descriptor that walk returns.

Every failure is an :class:`~vcs_conformance.errors.OutputInvalid` whose
message names the field (a JSON pointer) and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import schemas, wav
from .errors import OutputInvalid

__all__ = [
    "MAX_WAV_BYTES",
    "ProgressTracker",
    "ResolvedPath",
    "check_path_syntax",
    "open_workspace_file",
    "path_problem",
    "read_workspace_wav",
    "resolve_in_workspace",
    "validate_output",
    "validate_shape",
]

#: Largest WAV the host reads to check a Result (a Result is speech, not an album).
MAX_WAV_BYTES = 512 * 1024 * 1024
#: SPEC 5's tolerance between a WAV's length and a reported ``duration_s``.
DURATION_TOLERANCE_S = 0.010
#: Peak magnitude (16-bit scale) at or below which audio counts as silence (~ -60 dBFS).
SILENCE_THRESHOLD = 32
_MAX_SYMLINKS = 40
#: A letter to speak: ASCII, or one of the two characters whose lower case is one
#: (U+0130, U+212A).  A regex, not a loop: a 5,000-character text without letters
#: (CJK, emoji) took 0.4 ms a call to scan in Python.
_SPEAKABLE_LETTER = re.compile("[A-Za-z\u0130\u212a]")
_SCHEMA_FOR_HOOK = {"preprocess": "dataset", "train": "model", "synthesize": "result"}
_AREA_FOR_HOOK = {"train": "models", "synthesize": "outputs"}


def _fail(pointer: str, message: str, hook: str | None = None) -> OutputInvalid:
    where = f"{pointer}: " if pointer else ""
    return OutputInvalid(f"{where}{message}", hook=hook, details={"pointer": pointer})


# --- paths ----------------------------------------------------------------------------------

def path_problem(value: Any) -> str | None:
    """What makes ``value`` not a SPEC 4 workspace path, or None when it is one."""
    if not isinstance(value, str):
        return f"a path must be a string, not {type(value).__name__}"
    if not value:
        return "the path is empty"
    if "\x00" in value:
        return "the path contains a NUL character"
    if "\\" in value and "/" not in value and ":" in value:
        return f"{value!r} looks like a Windows path; paths are POSIX"
    if value.startswith("/"):
        return f"{value!r} is absolute; paths are relative to the workspace root"
    parts = value.split("/")
    if ".." in parts:
        return f"{value!r} contains '..'"
    if any(p in ("", ".") for p in parts):
        return f"{value!r} is not normalised (empty or '.' components)"
    return None


def check_path_syntax(value: Any, pointer: str, *, area: str | None = None,
                      hook: str | None = None) -> str:
    """``value`` as a valid path string, or :class:`OutputInvalid` naming ``pointer``."""
    problem = path_problem(value)
    if problem is not None:
        raise _fail(pointer, problem, hook)
    assert isinstance(value, str)
    if area is not None and value.split("/", 1)[0] != area:
        raise _fail(pointer, f"{value!r} is outside {area}/, where this file must be", hook)
    return value


@dataclass(frozen=True)
class ResolvedPath:
    """Where a workspace path really leads: its components after symlinks, and its stat."""

    logical: str
    mode: int

    @property
    def area(self) -> str:
        return self.logical.split("/", 1)[0]


def _walk(root: Path, rel: str, pointer: str, hook: str | None,
          final: bool) -> tuple[int, ResolvedPath, str]:
    """Walk ``rel`` from ``root``; return (dir fd of the last component, resolved, its name).

    Each directory is opened relative to its parent with ``O_NOFOLLOW``;
    a symlink is read with ``readlink`` and its target spliced into the
    remaining components, so nothing the kernel follows on our behalf can
    leave the workspace.
    """
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    names: list[str] = []
    pending = list(reversed(rel.split("/")))
    hops = 0
    root_posix = PurePosixPath(root.as_posix())
    try:
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not names:
                    raise _fail(pointer, f"{rel!r} resolves outside the workspace "
                                "(a symlink climbs above its root)", hook)
                os.close(fds.pop())
                names.pop()
                continue
            try:
                st = os.stat(comp, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                raise _fail(pointer, f"{rel!r} does not exist in the workspace "
                            f"({'/'.join([*names, comp])} is missing)", hook) from None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise _fail(pointer, f"{rel!r}: too many levels of symlinks", hook)
                target = os.readlink(comp, dir_fd=fds[-1])
                if target.startswith("/"):
                    try:
                        inside = PurePosixPath(target).relative_to(root_posix)
                    except ValueError:
                        raise _fail(pointer, f"{rel!r} is a symlink out of the workspace "
                                    f"(-> {target})", hook) from None
                    for fd in fds[1:]:
                        os.close(fd)
                    del fds[1:]
                    names.clear()
                    pending.extend(reversed(inside.parts))
                else:
                    pending.extend(reversed(target.split("/")))
                continue
            if not pending and final:
                return fds.pop(), ResolvedPath("/".join([*names, comp]), st.st_mode), comp
            if not stat.S_ISDIR(st.st_mode):
                raise _fail(pointer, f"{rel!r}: {'/'.join([*names, comp])} is not a "
                            "directory", hook)
            fds.append(os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                               | os.O_CLOEXEC, dir_fd=fds[-1]))
            names.append(comp)
        # The path resolved to a directory we opened (or the root itself).
        st = os.fstat(fds[-1])
        return fds.pop(), ResolvedPath("/".join(names), st.st_mode), "."
    finally:
        for fd in fds:
            os.close(fd)


def resolve_in_workspace(root: Path, rel: str, *, pointer: str = "",
                         area: str | None = None, hook: str | None = None) -> ResolvedPath:
    """Check ``rel`` exists inside ``root`` (symlinks followed, each must stay inside)."""
    check_path_syntax(rel, pointer, area=area, hook=hook)
    fd, resolved, _ = _walk(root, rel, pointer, hook, final=True)
    os.close(fd)
    if not resolved.logical:
        raise _fail(pointer, f"{rel!r} resolves to the workspace root itself", hook)
    if area is not None and resolved.area != area:
        raise _fail(pointer, f"{rel!r} resolves to {resolved.logical}, outside {area}/",
                    hook)
    return resolved


@contextlib.contextmanager
def open_workspace_file(root: Path, rel: str, *, pointer: str = "", area: str | None = None,
                        hook: str | None = None) -> Iterator[tuple[int, ResolvedPath]]:
    """A read-only descriptor of the regular file ``rel`` names, opened by the safe walk."""
    check_path_syntax(rel, pointer, area=area, hook=hook)
    dir_fd, resolved, name = _walk(root, rel, pointer, hook, final=True)
    try:
        if area is not None and resolved.area != area:
            raise _fail(pointer, f"{rel!r} resolves to {resolved.logical}, outside {area}/",
                        hook)
        if not stat.S_ISREG(resolved.mode):
            raise _fail(pointer, f"{rel!r} is not a regular file", hook)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        except OSError as exc:
            raise _fail(pointer, f"{rel!r} cannot be opened: {exc.strerror}", hook) from None
    finally:
        os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between stat and open
            raise _fail(pointer, f"{rel!r} is not a regular file", hook)
        yield fd, resolved
    finally:
        os.close(fd)


def read_workspace_wav(root: Path, rel: str, *, pointer: str = "", area: str | None = None,
                       hook: str | None = None,
                       with_samples: bool = False) -> tuple[wav.WavInfo, bytes]:
    """Header facts (and, when asked, the raw data chunk) of a WAV in the workspace."""
    with open_workspace_file(root, rel, pointer=pointer, area=area, hook=hook) as (fd, _):
        size = os.fstat(fd).st_size
        if size > MAX_WAV_BYTES:
            raise _fail(pointer, f"{rel!r} is {size} bytes, above the {MAX_WAV_BYTES}-byte "
                        "limit for a WAV the host checks", hook)
        data = _read_fd(fd, size)
    try:
        info = wav.read_info_bytes(data, rel)
    except wav.InvalidWav as exc:
        raise _fail(pointer, f"{rel!r} is not a valid PCM WAV: {exc.problem}", hook) from None
    return info, (_data_chunk(data) if with_samples else b"")


def _read_fd(fd: int, limit: int) -> bytes:
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _data_offset(data: bytes) -> int | None:
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        if chunk_id == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
    return None


def _data_chunk(data: bytes) -> bytes:
    offset = _data_offset(data)
    if offset is None:
        return b""
    (size,) = struct.unpack_from("<I", data, offset - 4)
    return data[offset:offset + size]


def is_silent(pcm: bytes, sample_width: int, threshold: int = SILENCE_THRESHOLD) -> bool:
    """Peak test on raw little-endian PCM of any integer width (8-bit is unsigned)."""
    if not pcm:
        return True
    if sample_width == 1:
        return max(pcm) <= 128 + threshold // 256 + 1 and min(pcm) >= 127 - threshold // 256
    if sample_width == 3:
        wide = bytearray(len(pcm) // 3 * 4)
        wide[1::4], wide[2::4], wide[3::4] = pcm[0::3], pcm[1::3], pcm[2::3]
        pcm, sample_width, threshold = bytes(wide), 4, threshold << 16
    elif sample_width == 4:
        threshold <<= 16
    code = {2: "h", 4: "i"}.get(sample_width)
    if code is None:
        return False  # an exotic width: the header check already judged it
    # Growing windows, converted as they are scanned: speech is loud within its first
    # few thousand samples, so the usual verdict ("not silent") converts and scans a
    # few small windows, not the whole file (a 3 s result took 1.5 ms per call); true
    # silence still scans everything once.
    view = memoryview(pcm)[:len(pcm) - len(pcm) % sample_width]
    start, size = 0, 1024 * sample_width
    while start < len(view):
        window = array(code)
        window.frombytes(view[start:start + size])
        if sys.byteorder == "big":
            window.byteswap()
        if max(window) > threshold or min(window) < -threshold:
            return False
        start += size
        size *= 2
    return True


# --- results ---------------------------------------------------------------------------------

def _pointer(path: Sequence[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) \
        if path else ""


def validate_shape(hook: str, value: Any, api: str) -> None:
    """The JSON Schema of ``hook``'s return value for ``api`` (no file system access)."""
    name = _SCHEMA_FOR_HOOK.get(hook)
    if name is None:
        return
    fast = schemas.fast_check(name, api)
    if fast is not None and fast(value):
        return
    validator = schemas.validator(name, api)
    errors = sorted(validator.iter_errors(value), key=lambda e: (len(e.absolute_path), e.path))
    if not errors:
        return
    err = errors[0]
    pointer = _pointer(list(err.absolute_path))
    leaf = err.instance
    if pointer.endswith(("/audio", "/model")) or (hook == "synthesize" and api == "1.0"):
        problem = path_problem(leaf)
        if problem is not None:
            raise _fail(pointer, problem, hook)
        area = _AREA_FOR_HOOK.get(hook)
        if area is not None and isinstance(leaf, str) and not leaf.startswith(area + "/"):
            raise _fail(pointer, f"{leaf!r} is outside {area}/, where {hook} must write it",
                        hook)
    shown = repr(leaf)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    message = err.message if len(err.message) <= 200 else f"{shown} breaks the schema " \
        f"({err.validator}: {err.validator_value!r})"[:300]
    raise _fail(pointer, f"{message} (API {api} {name} schema)", hook)


def _has_ascii_letter(text: Any) -> bool:
    return isinstance(text, str) and _SPEAKABLE_LETTER.search(text) is not None


def _check_audio(root: Path, rel: str, pointer: str, hook: str, *, rate: int | None,
                 duration: float | None, text: Any) -> wav.WavInfo:
    need_samples = _has_ascii_letter(text)
    info, pcm = read_workspace_wav(root, rel, pointer=pointer, area="outputs", hook=hook,
                                   with_samples=need_samples)
    if rate is not None and info.sample_rate != rate:
        raise _fail(pointer, f"{rel} has a {info.sample_rate} Hz header but the Result says "
                    f"sample_rate {rate}", hook)
    if duration is not None and abs(info.duration_s - duration) > DURATION_TOLERANCE_S:
        raise _fail(pointer, f"{rel} is {info.duration_s:.4f} s long but the Result says "
                    f"duration_s {duration:.4f} (tolerance 10 ms)", hook)
    if need_samples and is_silent(pcm, info.sample_width):
        raise _fail(pointer, f"{rel} is all silence, but the text has letters to speak", hook)
    return info


def validate_output(hook: str, value: Any, *, api: str, workspace: Path,
                    text: Any = None) -> None:
    """Full check of a core-side result: schema, then paths, files and WAV facts."""
    validate_shape(hook, value, api)
    if hook == "synthesize":
        if isinstance(value, str):  # API 1.0: the bare path
            _check_audio(workspace, value, "", hook, rate=None, duration=None, text=text)
        else:
            _check_audio(workspace, value["audio"], "/audio", hook,
                         rate=int(value["sample_rate"]), duration=float(value["duration_s"]),
                         text=text)
    elif hook == "train":
        resolve_in_workspace(workspace, value["model"], pointer="/model", area="models",
                             hook=hook)
    elif hook == "preprocess":
        for index, item in enumerate(value["items"]):
            pointer = f"/items/{index}/audio"
            info, _ = read_workspace_wav(workspace, item["audio"], pointer=pointer, hook=hook)
            if "duration_s" in item and \
                    abs(info.duration_s - float(item["duration_s"])) > DURATION_TOLERANCE_S:
                raise _fail(f"/items/{index}/duration_s", f"{item['duration_s']!r} but "
                            f"{item['audio']} is {info.duration_s:.4f} s long (tolerance "
                            "10 ms)", hook)


# --- progress --------------------------------------------------------------------------------

class ProgressTracker:
    """SPEC 5's progress rules over one ``train`` call, in the plugin's API.

    Events are checked as they arrive; the first bad one is remembered (the
    call is not interrupted: the worker stays usable) and :meth:`finish`
    raises it.  ``finish(success=True)`` also demands a last event at 100.
    """

    def __init__(self, api: str) -> None:
        self.api = api
        self.events: list[tuple[Any, ...]] = []
        self.error: str | None = None
        self._last = -math.inf

    def add(self, args: Sequence[Any]) -> bool:
        """Record one event (the callback's arguments); False once the rules are broken."""
        if self.error is not None:
            return False
        index = len(self.events)
        where = f"progress event {index} {tuple(args)!r}"
        want = 1 if self.api == "1.0" else 2
        if len(args) != want:
            self.error = f"{where}: {len(args)} arguments, API {self.api} passes {want}"
            return False
        percent = args[0]
        if isinstance(percent, bool) or not isinstance(percent, int | float) \
                or not math.isfinite(percent):
            self.error = f"{where}: percent must be a finite number"
        elif not 0 <= percent <= 100:
            self.error = f"{where}: percent {percent!r} is outside [0, 100]"
        elif percent < self._last:
            self.error = f"{where}: percent went backwards from {self._last!r} to {percent!r}"
        elif want == 2 and (not isinstance(args[1], str) or not args[1]
                            or len(args[1]) > 200):
            self.error = f"{where}: status must be a string of 1-200 characters"
        if self.error is not None:
            return False
        self._last = float(percent)
        self.events.append(tuple(args))
        return True

    def invalid(self, message: str) -> None:
        """An event the worker could not even encode (NaN, bytes...)."""
        if self.error is None:
            self.error = f"progress event {len(self.events)}: {message}"

    def finish(self, *, success: bool) -> None:
        if self.error is not None:
            raise OutputInvalid(self.error, hook="train", details={"pointer": "progress_cb"})
        if success and (not self.events or self.events[-1][0] != 100):
            last = self.events[-1] if self.events else "no event at all"
            raise OutputInvalid(f"train succeeded but its last progress event is {last!r}, "
                                "not 100", hook="train", details={"pointer": "progress_cb"})
