"""One worker process seen from the host: spawn, frames with deadlines, logs, death.

Why a class of its own: everything that can go wrong between two
processes (a hang, a crash, a flood of output, a forged or oversized frame)
is decided here and turned into exactly one error class, so
:mod:`vcs_conformance.host` only deals with hooks and shapes.

The worker's stdout and stderr go into a FIFO the host drains on a thread
into a ring of the last 64 KiB: a plugin printing gigabytes costs no disk
and never blocks on a full pipe, and an error can quote what it printed
last.  Frames are read with :class:`~vcs_conformance._worker.FrameReader`,
the same codec the worker uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _worker
from ._seams import Launcher, Limits, PluginEnv, WorkerProcess, WorkerSpec
from .errors import (
    PluginCrashed,
    PluginTimeout,
    ProtocolError,
    ResourceLimitExceeded,
    VCSError,
)
from .sandbox._written import Window, WriteMeter

__all__ = ["LOG_LIMIT", "WORKER_SCRIPT", "LogRing", "WorkerConnection"]

LOG_LIMIT = 64 * 1024
WORKER_SCRIPT = Path(_worker.__file__).resolve()
#: ``limit`` of a :class:`ResourceLimitExceeded` when the worker died of this signal
#: (the names launchers' ``limit_hit()`` use: "memory", "cpu"; the worker's own:
#: "max_file_size_mb", "max_open_files"; the host's write cap: "disk").
_SIGNAL_LIMITS = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "max_file_size_mb"}


class LogRing:
    """The last ``limit`` bytes the plugin printed (stdout and stderr interleaved)."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.total = 0

    def feed(self, data: bytes) -> None:
        with self._lock:
            self.total += len(data)
            self._buf += data
            if len(self._buf) > self.limit:
                del self._buf[:len(self._buf) - self.limit]

    def text(self) -> str:
        with self._lock:
            return self._buf.decode("utf-8", "replace")


class _LogPump:
    """Drains the worker's output FIFO into a :class:`LogRing` until stopped."""

    def __init__(self, fifo: Path, ring: LogRing) -> None:
        self.ring = ring
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Our own writer keeps the FIFO open, so reads never see a premature EOF.
        self._keep = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vcs-worker-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            events = poller.poll(100)
            if not events:
                if self._stop.is_set():
                    return
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return
            self.ring.feed(chunk)

    def stop(self, grace: float = 1.0) -> None:
        """Read what is left (up to ``grace`` seconds), then stop."""
        if self._keep >= 0:
            os.close(self._keep)
            self._keep = -1
        self._stop.set()
        self._thread.join(grace)
        if not self._thread.is_alive():
            with contextlib.suppress(OSError):
                os.close(self.fd)


class WorkerConnection:
    """A started worker and its two protocol pipes."""

    def __init__(self, launcher: Launcher, *, plugin_env: PluginEnv, limits: Limits,
                 env: Mapping[str, str], workspace: Path | None, temp_dir: Path,
                 fifo: Path, ring: LogRing, network: bool = False,
                 on_log: Callable[[dict[str, Any]], None] | None = None,
                 meter: WriteMeter | None = None) -> None:
        self.limits = limits
        self.ring = ring
        self.on_log = on_log
        #: Measures the workspace's read-write areas and the worker's own temp dir
        #: (its TMPDIR, on the host's disk) around each exchange: the write cap.
        self.meter = meter
        self._temp_dir = temp_dir
        if meter is not None:
            meter.add_dir(temp_dir)
        self._dead: VCSError | None = None
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        self._pump = _LogPump(fifo, ring)
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        try:
            spec = WorkerSpec(
                argv=(str(plugin_env.python), "-I", str(WORKER_SCRIPT), "--fds",
                      f"{to_worker_r},{from_worker_w}"),
                env=dict(env), pass_fds=(to_worker_r, from_worker_w), plugin_env=plugin_env,
                limits=limits, workspace=workspace, temp_dir=temp_dir, stdout_path=fifo,
                stderr_path=fifo, network=network, worker_script=WORKER_SCRIPT)
            self.process: WorkerProcess = launcher.start(spec)
        except BaseException:
            for fd in (self._to_worker, self._from_worker):
                os.close(fd)
            self._pump.stop(0)
            raise
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        flags = fcntl.fcntl(self._to_worker, fcntl.F_GETFL)
        fcntl.fcntl(self._to_worker, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.reader = _worker.FrameReader(self._from_worker, max_bytes=limits.max_frame_bytes)
        self._poll_in = select.poll()
        self._poll_in.register(self._from_worker, select.POLLIN)
        self._poll_out = select.poll()
        self._poll_out.register(self._to_worker, select.POLLOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def usable(self) -> bool:
        """No failure seen on this connection (no system call: cheap per call)."""
        return self._dead is None

    @property
    def alive(self) -> bool:
        return self._dead is None and self.process.poll() is None

    # -- frames ---------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any] | bytes, deadline: float) -> None:
        if isinstance(message, bytes):
            data = message
        else:
            try:
                data = _worker.encode_frame(message, max_bytes=self.limits.max_frame_bytes)
            except _worker.FrameError as exc:
                raise ProtocolError(f"the host cannot send this message: {exc}") from None
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._to_worker, view):]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not self._poll_out.poll(min(left, 0.5) * 1000):
                    if self.process.poll() is not None:
                        raise self._died() from None
                    if time.monotonic() >= deadline:
                        raise self._timeout(deadline) from None
            except BrokenPipeError:
                raise self._died() from None

    def exchange(self, message: dict[str, Any], *, timeout: float,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 encoded: bytes | None = None) -> dict[str, Any]:
        """Send ``message`` and return the reply; events (progress) go to ``on_event``.

        ``encoded`` is ``message`` already framed (the host encodes calls first,
        so that arguments that are not strict JSON fail before the worker is touched).

        Any failure kills the worker and raises the one matching error:
        :class:`PluginTimeout`, :class:`PluginCrashed`,
        :class:`ResourceLimitExceeded` or :class:`ProtocolError`.  Writes that
        grow the workspace's read-write areas past the per-call cap are one
        (``limit="disk"``), checked after the reply and every half second or
        so while the worker works.
        """
        if self._dead is not None:
            raise self._dead
        deadline = time.monotonic() + timeout
        window = self.meter.begin(self.limits) if self.meter is not None else None
        try:
            self._send(encoded if encoded is not None else message, deadline)
            while True:
                frame = self._read(deadline, window)
                if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
                    raise self._protocol(f"a frame that is not a message object: "
                                         f"{_show(frame)}")
                op = frame["op"]
                if op == "log":
                    if self.on_log is not None:
                        self.on_log(frame)
                    continue
                if op == "progress":
                    if on_event is not None and frame.get("id") == message.get("id"):
                        on_event(frame)
                    continue
                if window is not None:
                    self._check_written(window)
                return frame
        except VCSError as exc:
            self._dead = exc
            self.kill()
            raise

    def _read(self, deadline: float, window: Window | None = None) -> Any:
        def wait() -> bool:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self._poll_in.poll(min(left, 0.25) * 1000):
                    return True
                if self.process.poll() is not None:
                    # Dead, yet the pipe is still open: a child of the plugin holds it.
                    raise EOFError("worker exited")
                if window is not None and window.due():
                    self._check_written(window)
        try:
            frame = self.reader.read(wait)
        except EOFError:
            raise self._died() from None
        except _worker.FrameError as exc:
            raise self._protocol(str(exc)) from None
        if frame is None:
            raise self._timeout(deadline)
        return frame

    # -- failures -------------------------------------------------------------------------------

    def _check_written(self, window: Window) -> None:
        overrun = window.check()
        if overrun is None:
            return
        self.kill()
        raise ResourceLimitExceeded(
            overrun.message(), limit="disk",
            hint="delete what the plugin wrote if it is junk; if the plugin really writes "
                 "this much per call, give the host larger Limits(max_written_mb=..., "
                 "max_written_files=...)",
            details={"written": overrun.to_json(), "log_tail": self.log_tail()})

    def _protocol(self, what: str) -> ProtocolError:
        self.kill()
        return ProtocolError(f"the worker broke the protocol: {what}; it was stopped",
                             details={"log_tail": self.log_tail()})

    def _timeout(self, deadline: float) -> PluginTimeout:
        self.kill()
        return PluginTimeout(f"no answer within {self.limits.timeout_seconds:g} s; the worker "
                             "was killed", details={"timeout_seconds":
                                                    self.limits.timeout_seconds,
                                                    "log_tail": self.log_tail()},
                             hint="raise resources.timeout_seconds in vcs_plugin.yaml (the "
                             "host clamps it to its maximum) or make the call faster")

    def _died(self) -> VCSError:
        status: int | None
        try:
            status = self.process.wait(2.0)
        except Exception:
            self.kill()
            status = self.process.poll()
        limit = self.process.limit_hit()
        self._pump.stop(0.5)
        tail = self.ring.text()
        sig = -status if status is not None and status < 0 else None
        if limit is None and sig in _SIGNAL_LIMITS:
            limit = _SIGNAL_LIMITS[signal.Signals(sig)]
        if limit is not None:
            return ResourceLimitExceeded(f"the worker broke its {limit} limit and was stopped",
                                         limit=limit, details={"log_tail": tail,
                                                               "exit_status": status})
        name = signal.Signals(sig).name if sig is not None and sig in signal.valid_signals() \
            else None
        how = f"was killed by {name}" if name else f"exited with code {status}"
        return PluginCrashed(f"the worker process {how}", exit_code=status, signal=name,
                             log_tail=tail, details={"log_tail": tail})

    def log_tail(self) -> str:
        return self.ring.text()

    # -- lifecycle ------------------------------------------------------------------------------

    def leftovers(self) -> list[int]:
        try:
            return list(self.process.leftovers())
        except Exception:
            return []

    def kill(self) -> None:
        self.process.kill()

    def close(self, grace: float = 1.0) -> None:
        """Ask the worker to exit, kill it after ``grace`` seconds, release everything."""
        if self.alive:
            with contextlib.suppress(Exception):
                self._send({"op": "exit"}, time.monotonic() + grace)
                self.process.wait(grace)
        with contextlib.suppress(Exception):
            self.process.close()
        self._pump.stop(0.5)
        for fd in (self._to_worker, self._from_worker):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.meter is not None:
            self.meter.remove_dir(self._temp_dir)
        if self._dead is None:
            self._dead = PluginCrashed("the worker was closed")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
