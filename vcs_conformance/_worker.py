"""The plugin worker: runs inside the plugin's interpreter, standard library only.

Why a separate process speaking frames on its own pipes: a plugin is
untrusted code with its own dependencies; it must not share the kit's
interpreter, and its ``print`` calls must not be able to corrupt the
protocol.  So the host starts ``python -I _worker.py --fds R,W`` and talks
on the two inherited pipe descriptors only; stdout and stderr are plain
logs the host keeps the tail of.

This file is also the one implementation of the frame codec: the host
imports :func:`encode_frame`, :func:`decode_payload` and :class:`FrameReader`
from here, so both sides reject exactly the same things (oversized frames,
deep nesting, NaN/Infinity, duplicate keys, lone surrogates).

Protocol (every message a JSON object with ``op``)::

    host -> worker   discover {target}           -> discovered {module, manifest_path, ...}
                     load {api_version, ...}      -> ready {hooks} | load_error {stage, ...}
                     call {id, hook, args}        -> progress*/log* then result | error
                     exit                         (worker exits 0)
    worker -> host   log {level, name, message}   (any time, from ``registry.logger``)
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import math
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

#: Bumped whenever a message changes shape (the env cache keys on it).
PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
MAX_DEPTH = 100
_HEADER = struct.Struct(">I")
_HOOKS = {"init": 1, "preprocess": 1, "train": 2, "synthesize": 2}
_ENTRY_GROUP = "vcs.plugins"
_MANIFEST = "vcs_plugin.yaml"


class FrameError(ValueError):
    """A frame (or a value meant to become one) breaks the protocol's strict JSON."""


# --- the frame codec (shared with the host) -----------------------------------------------

def _reject_constant(name: str) -> NoReturn:
    raise FrameError(f"{name} is not JSON (strict JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FrameError(f"number {text[:40]} overflows to infinity")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise FrameError(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return obj


# parse_float: "1e400" would silently become infinity.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant,
                            parse_float=_finite_float)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_ASCII_NON_BRACKETS = str.maketrans("", "", "".join(
    chr(i) for i in range(128) if chr(i) not in "[]{}"))
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _max_depth(skeleton: str) -> int:
    """Deepest nesting of a brackets-only string: one linear pass at C speed."""
    if not skeleton:
        return 0
    return max(itertools.accumulate(map(_STEP.__getitem__, skeleton)))


def _check_depth(text: str, max_depth: int) -> None:
    """Reject nesting deeper than ``max_depth`` without a Python-level scan.

    Fast path: keep only the brackets (``str.translate``, C speed) and take
    the running sum's maximum (``itertools.accumulate``, one linear pass: a
    forged 16 MiB frame costs milliseconds, not seconds).  Brackets inside
    strings can only make that skeleton look deeper, so only then are the
    strings cut out for a precise answer.  (``json`` itself stops at the
    recursion limit, which :func:`decode_payload` reports as a
    :class:`FrameError` too.)
    """
    if text.count("[") + text.count("{") <= max_depth:
        return
    skeleton = text.translate(_ASCII_NON_BRACKETS)
    if not skeleton.isascii():
        skeleton = _NOT_BRACKET.sub("", skeleton)
    if _max_depth(skeleton) <= max_depth:
        return
    if _max_depth(_NOT_BRACKET.sub("", _STRING.sub("", text))) > max_depth:
        raise FrameError(f"JSON nested deeper than {max_depth} levels")


def _check_surrogates(value: Any, where: str = "") -> None:
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise FrameError(f"lone surrogate in the string at {path or '/'}") from None
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, path + "/<key>"))
                stack.append((sub, f"{path}/{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}/{i}") for i, sub in enumerate(item))


def decode_payload(payload: bytes | bytearray | memoryview, *,
                   max_bytes: int = DEFAULT_MAX_FRAME, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON from a frame's payload; :class:`FrameError` says what is wrong."""
    if len(payload) > max_bytes:
        raise FrameError(f"frame of {len(payload)} bytes exceeds the {max_bytes}-byte limit")
    try:
        text = str(payload, "utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"frame is not UTF-8 (byte {exc.start})") from None
    _check_depth(text, max_depth)
    try:
        value = _DECODER.decode(text)
    except FrameError:
        raise
    except RecursionError:
        raise FrameError("JSON nested too deeply") from None
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value)
    return value


_CONTAINERS = (dict, list, tuple)


def _check_keys(value: Any) -> None:
    """``json.dumps`` silently turns ``{1: x}`` into ``{"1": x}``: strict JSON refuses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(type(key) is str for key in item):
                key = next(k for k in item if type(k) is not str)
                raise FrameError(f"object key {key!r} is a {type(key).__name__}, not a string")
            stack.extend([sub for sub in item.values() if type(sub) in _CONTAINERS])
        elif isinstance(item, list | tuple):
            stack.extend([sub for sub in item if type(sub) in _CONTAINERS])


def _find_non_json(value: Any) -> str | None:
    """Where a value stops being strict JSON, as ``at /pointer: what`` (error path only)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    seen: set[int] = set()
    while stack:
        item, path = stack.pop()
        where = path or "/"
        if isinstance(item, float) and not math.isfinite(item):
            return f"not strict JSON: at {where}: {item!r} (NaN and Infinity are not JSON)"
        if isinstance(item, dict | list | tuple):
            if id(item) in seen:
                return f"not JSON: at {where}: a circular reference"
            seen.add(id(item))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((sub, f"{path}/{key}") for key, sub in pairs)
        elif item is not None and not isinstance(item, str | int | float | bool):
            return f"not JSON: at {where}: a {type(item).__name__} ({item!r:.60})"
    return None


def encode_frame(value: Any, *, max_bytes: int = DEFAULT_MAX_FRAME,
                 check_keys: bool = True) -> bytes:
    """Length-prefixed strict JSON; :class:`FrameError` for anything JSON cannot hold."""
    if check_keys:
        _check_keys(value)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError) as exc:
        raise FrameError(_find_non_json(value) or f"not strict JSON: {exc}") from None
    except RecursionError:
        raise FrameError("value nested too deeply for JSON") from None
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FrameError(f"a string holds a lone surrogate ({exc.object[exc.start:exc.end]!r}),"
                         " which UTF-8 cannot carry") from None
    if len(payload) > max_bytes:
        raise FrameError(f"value is {len(payload)} bytes as JSON, above the {max_bytes}-byte "
                         "frame limit")
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Reads frames from a pipe descriptor, buffering what arrives early.

    ``wait`` (optional) is called with no argument before a read that would
    block and returns False to give up (the host's deadline); the worker
    passes none and simply blocks.
    """

    def __init__(self, fd: int, *, max_bytes: int = DEFAULT_MAX_FRAME) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def _fill(self, need: int, wait: Callable[[], bool] | None) -> bool:
        while len(self._buf) < need:
            if wait is not None and not wait():
                return False
            chunk = os.read(self.fd, max(65536, need - len(self._buf)))
            if not chunk:
                raise EOFError("the other end closed the pipe")
            self._buf += chunk
        return True

    def read(self, wait: Callable[[], bool] | None = None) -> Any:
        """The next decoded frame; None when ``wait`` gave up; ``EOFError`` at end."""
        if not self._fill(4, wait):
            return None
        (size,) = _HEADER.unpack_from(self._buf)
        if size > self.max_bytes:
            raise FrameError(f"frame header announces {size} bytes, above the "
                             f"{self.max_bytes}-byte limit")
        if not self._fill(4 + size, wait):
            return None
        if len(self._buf) == 4 + size:  # the usual case: no copy of a large payload
            payload = memoryview(self._buf)[4:]
            self._buf = bytearray()
        else:
            payload = memoryview(bytes(self._buf[4:4 + size]))
            del self._buf[:4 + size]
        return decode_payload(payload, max_bytes=self.max_bytes)

    def buffered(self) -> bool:
        """Whether a complete frame header is already buffered (no read needed)."""
        return len(self._buf) >= 4


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- the registry (SPEC 3) ----------------------------------------------------------------

class ReadOnlyMapping(Mapping[str, Any]):
    """``registry.settings``: a mapping of JSON values whose writes raise ``PermissionError``."""

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", {k: _freeze(v) for k, v in data.items()})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({self._data!r})"

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        raise PermissionError("registry.settings is read-only")

    def __delitem__(self, key: str) -> NoReturn:
        raise PermissionError("registry.settings is read-only")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise PermissionError("registry.settings is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise PermissionError("registry.settings is read-only")

    def __reduce__(self) -> NoReturn:
        raise PermissionError("registry.settings cannot be copied into a writable object")


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ReadOnlyMapping(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


class PluginRegistry:
    """What ``register(registry)`` receives (SPEC 3): read-only facts and a logger."""

    __slots__ = ("api_version", "core_version", "logger", "settings", "temp_dir", "workspace")
    api_version: str
    core_version: str
    workspace: Any
    temp_dir: Any
    settings: ReadOnlyMapping
    logger: logging.Logger

    def __init__(self, *, api_version: str, core_version: str, workspace: Any, temp_dir: Any,
                 settings: Mapping[str, Any], logger: logging.Logger) -> None:
        for name, value in (("api_version", api_version), ("core_version", core_version),
                            ("workspace", workspace), ("temp_dir", temp_dir),
                            ("settings", ReadOnlyMapping(settings)), ("logger", logger)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise PermissionError(f"registry.{name} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise PermissionError(f"registry.{name} is read-only")

    def __repr__(self) -> str:
        return (f"PluginRegistry(api_version={self.api_version!r}, "
                f"core_version={self.core_version!r}, workspace={self.workspace!r})")


# --- the worker ---------------------------------------------------------------------------

class _HostHandler(logging.Handler):
    """Sends ``registry.logger`` records to the host's ``logging``."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(logging.DEBUG)
        self.worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                import traceback

                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self.worker.send({"op": "log", "level": record.levelno, "name": record.name,
                              "message": message[:65536]})
        except Exception:
            self.handleError(record)


def _accepts(func: Any, count: int) -> bool:
    """Whether ``func`` takes ``count`` positional arguments.

    Plain functions and bound methods are read from their code object (no
    ``inspect`` import: it costs more than the rest of the worker's start);
    anything else goes through ``inspect.signature``.
    """
    target, bound = func, 0
    if hasattr(target, "__func__") and hasattr(target, "__self__"):
        target, bound = target.__func__, 1
    code = getattr(target, "__code__", None)
    if code is not None and hasattr(target, "__defaults__"):
        positional = code.co_argcount - bound
        required = positional - len(target.__defaults__ or ())
        required_kwonly = set(code.co_varnames[code.co_argcount:code.co_argcount
                                               + code.co_kwonlyargcount]) \
            - set(target.__kwdefaults__ or {})
        varargs = bool(code.co_flags & 0x04)
        return required <= count and (varargs or count <= positional) and not required_kwonly
    import inspect

    try:
        inspect.signature(func).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read (a builtin): trust it
    return True


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _describe(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the plugin's frames only: the worker's own are noise to its author
    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"type": name, "message": str(exc)[:65536], "traceback": trace[-65536:],
            "value_error": isinstance(exc, ValueError), "limit": _limit_of(exc)}


def _limit_of(exc: BaseException) -> str | None:
    """The sandbox limit an exception shows was hit (Python ignores SIGXFSZ: EFBIG)."""
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "max_file_size_mb"
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return "max_open_files"
    if ((isinstance(exc, OSError) and exc.errno == errno.EAGAIN)
            or (isinstance(exc, RuntimeError) and "can't start new thread" in str(exc))):
        return "processes" if _was_spawning(exc) or _cannot_spawn() else None
    return None


def _was_spawning(exc: BaseException) -> bool:
    """Whether ``exc`` came from ``os.fork()``/``forkpty()`` or subprocess' fork_exec
    (not the EAGAIN of non-blocking I/O): the call its innermost frame was making."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    code = tb.tb_frame.f_code
    if code.co_name == "_execute_child":  # subprocess.Popen: _fork_exec(...) failed
        return True
    import dis

    called = None  # a call without arguments: the last name loaded is the callee
    for ins in dis.get_instructions(code):
        if ins.offset >= tb.tb_lasti:
            break
        if ins.opname.startswith("LOAD_"):
            called = ins.argval
    return called in ("fork", "forkpty")


def _cannot_spawn() -> bool:
    """Whether a new process fails right now with EAGAIN (threads, other callers).
    ``posix_spawn`` runs no fork hooks."""
    try:
        pid = os.posix_spawn("/bin/true", ["true"], {})
    except OSError as exc:
        return exc.errno == errno.EAGAIN
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)
    return False


class Worker:
    """One plugin, one process: discover, import, register, then serve calls."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = FrameReader(read_fd)
        self.write_fd = write_fd
        self.max_frame = DEFAULT_MAX_FRAME
        self._lock = threading.Lock()
        self.module: Any = None
        self.hooks: dict[str, Callable[..., Any]] = {}
        self.api_version = "1.2"
        self.logger: logging.Logger | None = None
        # A plugin that forks (a daemon, a fork bomb) must not leave copies of
        # the worker able to answer on the protocol pipe: close it in every
        # child.  (subprocess' fork+exec does not run these hooks; exec closes
        # the pipes anyway, they are not inheritable.)
        os.register_at_fork(after_in_child=self._forget_pipes)

    def _forget_pipes(self) -> None:
        for fd in (self.reader.fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def send(self, message: dict[str, Any]) -> None:
        data = encode_frame(message, max_bytes=self.max_frame, check_keys=False)
        with self._lock:
            write_all(self.write_fd, data)

    # -- discovery (no plugin code runs) -----------------------------------------------------

    def discover(self, target: Mapping[str, Any]) -> dict[str, Any]:
        for root in reversed(target.get("sys_path") or []):
            sys.path.insert(0, root)
        module = target.get("module")
        found: dict[str, Any] = {"dist": None, "version": None, "entry_point": None,
                                 "warnings": []}
        if not module:
            found.update(self._find_entry_point(target.get("name") or ""))
            module = found["module"]
        else:
            found["entry_point"] = target.get("entry_point")
        found["module"] = module
        found["manifest_path"] = self._manifest_path(module)
        return found

    def _find_entry_point(self, name: str) -> dict[str, Any]:
        from importlib import metadata

        wanted = _normalize(name)
        points = list(metadata.entry_points(group=_ENTRY_GROUP))
        by_name = [ep for ep in points if ep.name == name or _normalize(ep.name) == wanted]
        if not by_name:
            by_name = [ep for ep in points if ep.dist is not None
                       and _normalize(ep.dist.metadata["Name"] or "") == wanted]
        if not by_name:
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                raise LookupError(f"no installed distribution and no {_ENTRY_GROUP!r} entry "
                                  f"point is named {name!r} in {sys.executable}") from None
            raise LookupError(f"distribution {name!r} declares no {_ENTRY_GROUP!r} entry point")
        dists = {_normalize(ep.dist.metadata["Name"] or "") if ep.dist else "?" for ep in by_name}
        if len(by_name) > 1:
            listed = ", ".join(f"{ep.name} = {ep.value}" for ep in by_name)
            raise LookupError(f"{len(by_name)} {_ENTRY_GROUP!r} entry points match {name!r} "
                              f"({listed}); exactly one per distribution is allowed")
        ep = by_name[0]
        warnings = []
        module, _, attr = ep.value.partition(":")
        module = module.strip()
        if attr:
            if attr.strip() != "register":
                raise LookupError(f"entry point {ep.name} = {ep.value!r} must name a module "
                                  "(pkg.plugin), not an object")
            warnings.append(f"entry point {ep.name} = {ep.value!r} names an object; SPEC 2 "
                            f"asks for the module only ({module!r})")
        dist = ep.dist
        return {"module": module, "entry_point": ep.name, "warnings": warnings,
                "dist": dist.metadata["Name"] if dist else sorted(dists)[0],
                "version": dist.version if dist else None}

    @staticmethod
    def _manifest_path(module: str) -> str | None:
        import importlib.util

        top = module.split(".", maxsplit=1)[0]
        spec = importlib.util.find_spec(top)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {top!r} on the plugin's sys.path",
                                      name=top)
        locations = list(spec.submodule_search_locations or [])
        if not locations:
            return None
        return os.path.join(locations[0], _MANIFEST)

    # -- load: import and register ------------------------------------------------------------

    def load(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        import importlib
        import pathlib

        self.api_version = str(msg["api_version"])
        tempfile = sys.modules.get("tempfile")  # TMPDIR covers it when imported later
        if msg.get("temp_dir") and tempfile is not None:
            setattr(tempfile, "tempdir", str(msg["temp_dir"]))  # noqa: B010
        stage = "import"
        try:
            self.module = importlib.import_module(str(msg["module"]))
            register = getattr(self.module, "register", None)
            stage = "register"
            if not callable(register):
                raise TypeError(f"module {msg['module']!r} defines no callable register()")
            logger = logging.getLogger(f"vcs.plugin.{msg.get('name') or msg['module']}")
            logger.handlers[:] = [_HostHandler(self)]
            logger.propagate = False
            logger.setLevel(int(msg.get("log_level", logging.INFO)))
            self.logger = logger
            registry = PluginRegistry(
                api_version=self.api_version, core_version=str(msg["core_version"]),
                workspace=pathlib.Path(msg["workspace"]) if msg.get("workspace") else None,
                temp_dir=pathlib.Path(msg["temp_dir"]) if msg.get("temp_dir") else None,
                settings=msg.get("settings") or {}, logger=logger)
            hooks = register(registry)
            stage = "hooks"
            self.hooks = self._check_hooks(hooks)
        except BaseException as exc:  # the plugin's own failure, reported, never fatal here
            return {"op": "load_error", "stage": stage, **_describe(exc)}
        return {"op": "ready", "hooks": sorted(self.hooks)}

    @staticmethod
    def _check_hooks(hooks: Any) -> dict[str, Callable[..., Any]]:
        if not isinstance(hooks, dict):
            raise TypeError(f"register() returned {type(hooks).__name__}, not a dict from hook "
                            "name to callable")
        problems = []
        for name, func in hooks.items():
            if name not in _HOOKS:
                problems.append(f"unknown hook {name!r} (known: {', '.join(_HOOKS)})")
            elif not callable(func):
                problems.append(f"hook {name!r} is a {type(func).__name__}, not callable")
            elif not _accepts(func, _HOOKS[name]):
                problems.append(f"hook {name!r} cannot take {_HOOKS[name]} positional "
                                f"argument(s)")
        if not problems and not set(hooks) & {"preprocess", "train", "synthesize"}:
            problems.append("no preprocess, train or synthesize hook: at least one is required")
        if problems:
            raise TypeError("; ".join(problems))
        return dict(hooks)

    # -- calls ----------------------------------------------------------------------------------

    def call(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        call_id = msg.get("id")
        hook = str(msg.get("hook"))
        level = msg.get("log_level")
        if isinstance(level, int) and self.logger is not None and level != self.logger.level:
            self.logger.setLevel(level)
        args = list(msg.get("args") or [])
        func = self.hooks.get(hook)
        if func is None:
            return {"op": "error", "id": call_id, "type": "LookupError", "value_error": False,
                    "limit": None, "message": f"the plugin has no {hook!r} hook",
                    "traceback": ""}
        if hook == "train":
            args = [args[0], self._progress_callback(call_id)]
        started = time.perf_counter_ns()
        try:
            value = func(*args)
        except BaseException as exc:
            return {"op": "error", "id": call_id, "ns": time.perf_counter_ns() - started,
                    **_describe(exc)}
        # The hook's own time, so the host can tell the plugin's share of a call from its
        # own; integer nanoseconds, which the strict decoder parses at C speed.
        spent = time.perf_counter_ns() - started
        try:
            data = encode_frame({"op": "result", "id": call_id, "value": value, "ns": spent},
                                max_bytes=self.max_frame)
        except FrameError as exc:
            detail = _find_non_json(value) or str(exc)
            return {"op": "bad_output", "id": call_id, "message": f"the value {hook} returned "
                    f"is {detail}"}
        with self._lock:
            write_all(self.write_fd, data)
        return {}

    def _progress_callback(self, call_id: Any) -> Callable[..., None]:
        def send(*args: Any) -> None:
            try:
                data = encode_frame({"op": "progress", "id": call_id, "args": list(args)},
                                    max_bytes=self.max_frame)
            except FrameError as exc:
                self.send({"op": "progress", "id": call_id, "invalid": f"progress_cb{args!r}: "
                           f"{exc}"[:4000]})
                return
            with self._lock:
                write_all(self.write_fd, data)

        if self.api_version == "1.0":
            def progress_cb(percent: Any) -> None:
                send(percent)
            return progress_cb

        def progress_cb2(percent: Any, status: Any) -> None:
            send(percent, status)
        return progress_cb2

    def serve(self) -> int:
        while True:
            try:
                msg = self.reader.read()
            except EOFError:
                return 0
            op = msg.get("op") if isinstance(msg, dict) else None
            if op == "exit":
                return 0
            if op == "call":
                reply = self.call(msg)
            elif op == "discover":
                self.max_frame = int(msg.get("max_frame_bytes") or self.max_frame)
                self.reader.max_bytes = self.max_frame
                try:
                    reply = {"op": "discovered", **self.discover(msg)}
                except BaseException as exc:
                    reply = {"op": "load_error", "stage": "discover", **_describe(exc)}
                then = msg.get("then_load")
                if isinstance(then, dict) and reply["op"] == "discovered":
                    # One round trip when the host already knows the manifest.
                    reply = {**self.load({**then, "module": reply["module"]}),
                             "discovered": reply}
            elif op == "load":
                reply = self.load(msg)
            else:
                reply = {"op": "error", "id": None, "type": "ProtocolError", "message":
                         f"unknown request {op!r}", "traceback": "", "value_error": False,
                         "limit": None}
            if reply:
                self.send(reply)


def main(argv: list[str]) -> int:
    """``_worker.py --fds R,W``: serve on those descriptors until told to exit."""
    if len(argv) != 2 or argv[0] != "--fds":
        print("usage: _worker.py --fds READ_FD,WRITE_FD", file=sys.stderr)
        return 2
    read_fd, write_fd = (int(x) for x in argv[1].split(","))
    import faulthandler

    faulthandler.enable()  # a segfaulting extension leaves its Python stack in the log
    # stdin stays /dev/null; stdout/stderr are the host's bounded logs.  Keep them
    # line-buffered so the tail quoted in an error is what the plugin last printed.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    code = Worker(read_fd, write_fd).serve()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
