"""The reference plugin host (SPEC sections 1 and 3-5).

Usage, as a core would embed it::

    with PluginHost(core_version="1.2.0", workspace=ws_root) as host:
        plugin = host.load("path/to/project")        # or a wheel, sdist, name
        result = plugin.synthesize("Hello", {"rate": 1.2})
        model = plugin.train(dataset, on_progress=lambda pct, status: ...)

Why this shape: the caller always speaks the *core's* API version; the host
decides (SPEC 1) whether the plugin is native, served through a shim chain
or incompatible, runs it in a worker process (started through the
:class:`~vcs_conformance._seams.Launcher` seam, under the interpreter the
env provider chose), translates arguments down and results up, and
validates every result before handing it back.  Every failure is one class
of :mod:`vcs_conformance.errors`; after any of them the host keeps working,
and a dead worker is started again on the next call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _worker
from ._api import CURRENT_CORE, DEFAULT_SHIM_WINDOW
from ._current_env import CurrentEnvProvider, EnvProvider
from ._host_conn import LogRing, WorkerConnection
from ._seams import Launcher, Limits, PluginEnv, SandboxReport
from ._shims import ShimChain, ShimContext, ShimStep, build_chain
from ._validate import ProgressTracker, validate_output, validate_shape
from .compat import Decision, decide, parse_api
from .errors import (
    HookError,
    IncompatiblePlugin,
    InvalidInputRejected,
    OutputInvalid,
    PluginLoadError,
    ProtocolError,
    ResourceLimitExceeded,
    VCSCompatibilityWarning,
    VCSError,
)
from .manifest import Manifest, load_manifest
from .sandbox._limits import MAXIMUM_LIMITS, clamp_resources
from .sandbox._written import WriteMeter
from .workspace import Workspace, create_workspace

__all__ = ["DEFAULT_MAX_LIMITS", "DEFAULT_SETTINGS", "CallRecord", "LoadedPlugin",
           "PluginHost"]

#: What ``registry.settings`` holds unless the host is given others.
DEFAULT_SETTINGS: Mapping[str, Any] = {"locale": "en_US", "default_sample_rate": 22050}
#: The most a manifest's ``resources`` may ask for.
#: (One table for the whole kit: ``vcs_conformance.sandbox._limits``.)
DEFAULT_MAX_LIMITS = MAXIMUM_LIMITS
_MISSING: Any = object()


@dataclass
class CallRecord:
    """Evidence about the last call, for reports and the ``hygiene`` check."""

    hook: str
    seconds: float = 0.0
    worker_pid: int | None = None
    #: ``code`` of the error the call ended with, or None on success.
    error: str | None = None
    #: Progress events as the caller received them (core shape).
    progress: list[tuple[Any, ...]] = field(default_factory=list)
    #: Seconds the plugin's hook itself ran, as the worker measured it (None when the
    #: call never reached the hook or the worker died); ``seconds`` minus this is the
    #: host's and the protocol's share.
    plugin_seconds: float | None = None
    _leftovers: Callable[[], list[int]] | None = field(default=None, repr=False)
    _leftover_pids: list[int] | None = field(default=None, repr=False)

    @property
    def leftover_pids(self) -> list[int]:
        """PIDs the plugin started that are still running after the call.

        Measured on first access (a scan of the process table costs about a
        millisecond, more than a whole no-op call): read it right after the
        call, as the ``hygiene`` check does.
        """
        if self._leftover_pids is None:
            self._leftover_pids = self._leftovers() if self._leftovers is not None else []
            self._leftovers = None
        return self._leftover_pids


def worker_environment(env: PluginEnv, temp_dir: Path,
                       extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's whole environment: nothing of the host's leaks (no tokens, no HOME)."""
    return {
        "PATH": f"{env.python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(temp_dir),
        "TMPDIR": str(temp_dir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # glibc thread arenas count against RLIMIT_AS: keep threaded plugins honest.
        "MALLOC_ARENA_MAX": "2",
        **(extra or {}),
    }


def _clamp(limits: Limits, maxima: Limits, requested: Mapping[str, Any]) -> Limits:
    """The manifest's ``resources`` within the host's maxima (one rule for the whole kit)."""
    return clamp_resources(requested, base=limits, maximum=maxima)


class LoadedPlugin:
    """One plugin behind one worker (respawned when it dies); calls in core shapes."""

    def __init__(self, host: PluginHost, handle: str, env: PluginEnv,
                 manifest: Manifest | None) -> None:
        self._host = host
        self.handle = handle
        self.env = env
        self.manifest: Manifest = manifest  # type: ignore[assignment]  # set by _start
        self.decision: Decision | None = None
        self.hooks: tuple[str, ...] = ()
        self.limits = host.limits
        self.last_call: CallRecord | None = None
        self.calls = 0
        self._chain = ShimChain()
        self._conn: WorkerConnection | None = None
        self._temp: Path | None = None
        self._ring = LogRing()
        self._module = env.entry_module
        self._init_config: Any = _MISSING
        self._next_id = 0
        self._closed = False
        self._logger = host.logger.getChild("plugin")
        self._plugin_logger: logging.Logger | None = None
        self._plugin_logger_name = ""

    # -- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        if self.manifest is not None:
            return self.manifest.name
        return self.env.dist_name or self.env.entry_point or self.handle

    @property
    def plugin_api(self) -> str:
        return self.manifest.api_version

    @property
    def core_api(self) -> str:
        return self._host.core_api

    @property
    def chain(self) -> ShimChain:
        return self._chain

    def __repr__(self) -> str:
        label = self.decision.label() if self.decision else "not loaded"
        return f"<LoadedPlugin {self.name} ({label}) hooks={list(self.hooks)}>"

    # -- worker lifecycle -------------------------------------------------------------------

    def _spawn(self) -> WorkerConnection:
        host = self._host
        self._temp = Path(tempfile.mkdtemp(prefix="worker-", dir=host.scratch))
        fifo = self._temp.with_name(self._temp.name + ".log")
        conn = WorkerConnection(
            host.launcher, plugin_env=self.env, limits=self.limits,
            env=worker_environment(self.env, self._temp, host.extra_env),
            workspace=host.workspace.root, temp_dir=self._temp, fifo=fifo, ring=self._ring,
            network=bool(self.manifest.network) if self.manifest is not None else False,
            on_log=self._on_log, meter=host.write_meter)
        return conn

    @property
    def logger(self) -> logging.Logger:
        """Where ``registry.logger`` records arrive: ``<host logger>.plugin.<name>``."""
        if self._plugin_logger is None or self._plugin_logger_name != self.name:
            self._plugin_logger_name = self.name
            self._plugin_logger = self._logger.getChild(self.name)
        return self._plugin_logger

    def _on_log(self, frame: Mapping[str, Any]) -> None:
        level = frame.get("level")
        self.logger.log(
            level if isinstance(level, int) else logging.INFO, "%s", frame.get("message"),
            extra={"vcs_plugin": self.name, "vcs_remote_logger": frame.get("name")})

    def _load_error(self, reply: Mapping[str, Any], stage: str) -> PluginLoadError:
        stage = str(reply.get("stage", stage))
        what = {"discover": "could not be found", "import": "failed to import",
                "register": "register(registry) failed",
                "hooks": "register(registry) returned unusable hooks"}.get(stage, "failed")
        tail = self._ring.text()
        message = f"{what}: {reply.get('type', 'Error')}: {reply.get('message', '')}"
        err = PluginLoadError(message, plugin=self.name,
                              details={"stage": stage, "log_tail": tail,
                                       "remote_traceback": reply.get("traceback", "")})
        return err

    def _start(self) -> None:
        """Spawn, discover, (manifest + decision when not known yet), import, register."""
        timeout = self.limits.timeout_seconds
        conn = self._spawn()
        self._conn = conn
        try:
            request: dict[str, Any] = {
                "op": "discover", "module": self._module,
                "name": self.env.entry_point or self.env.dist_name,
                "entry_point": self.env.entry_point,
                "sys_path": [str(p) for p in self.env.sys_path],
                "max_frame_bytes": self.limits.max_frame_bytes}
            if self.manifest is not None:
                request["then_load"] = self._load_request()
            found = conn.exchange(request, timeout=timeout)
            reply: Mapping[str, Any] = found
            if "discovered" in found:  # discovered and loaded in one round trip
                found = found["discovered"]
            elif found.get("op") != "discovered":
                raise self._load_error(found, "discover")
            for text in found.get("warnings") or []:
                self._logger.warning("%s: %s", self.name, text)
            self._module = str(found["module"])
            if self.manifest is None:
                path = found.get("manifest_path")
                if not path:
                    raise PluginLoadError(f"entry module {self._module!r} is not inside a "
                                          "package, so it has no vcs_plugin.yaml beside an "
                                          "__init__.py (SPEC 2)", plugin=self.name,
                                          details={"stage": "discover"})
                self.manifest = load_manifest(path)
                self._decide()
                if self.limits != conn.limits:  # the manifest asked for other limits
                    conn.close()
                    self._start()
                    return
                reply = conn.exchange({"op": "load", "module": self._module,
                                       **self._load_request()}, timeout=timeout)
        except PluginLoadError:
            conn.close()
            raise
        except VCSError as exc:
            conn.close()
            if isinstance(exc, IncompatiblePlugin):
                raise
            exc.plugin = exc.plugin or self.name
            exc.details.setdefault("stage", "import")
            exc.details.setdefault("log_tail", self._ring.text())
            raise
        if reply.get("op") != "ready":
            conn.close()
            raise self._load_error(reply, "register")
        hooks = tuple(str(h) for h in reply.get("hooks") or [])
        if self.hooks and hooks != self.hooks:
            conn.close()
            raise PluginLoadError(f"the respawned worker registered {list(hooks)}, not "
                                  f"{list(self.hooks)}", plugin=self.name,
                                  details={"stage": "hooks"})
        self.hooks = hooks

    def _load_request(self) -> dict[str, Any]:
        return {"op": "load", "name": self.manifest.name,
                "api_version": self.manifest.api_version,
                "core_version": self._host.core_version,
                "workspace": str(self._host.workspace.root), "temp_dir": str(self._temp),
                "settings": dict(self._host.settings),
                "log_level": self.logger.getEffectiveLevel()}

    def _decide(self) -> None:
        m = self.manifest
        self.decision = decide(m.api_version, self._host.core_version,
                               window=self._host.shim_window, core_spec=m.core_version,
                               platforms=m.platforms)
        if not self.decision.compatible:
            message = f"plugin {m.name} {m.version} skipped: {self.decision.message}"
            warnings.warn(message, VCSCompatibilityWarning, stacklevel=4)
            raise IncompatiblePlugin(self.decision.message, rule=self.decision.rule or "",
                                     plugin=m.name,
                                     details={"plugin_api": m.api_version,
                                              "core_version": self._host.core_version})
        self._chain = build_chain(self.decision.chain, self._host.shim_steps) \
            if self.decision.kind == "shim" else ShimChain()
        self.limits = _clamp(self._host.limits, self._host.max_limits, m.resources)

    def _worker(self) -> WorkerConnection:
        if self._closed:
            raise PluginLoadError("the plugin was closed", plugin=self.name,
                                  details={"stage": "discover"})
        if self._conn is not None and self._conn.alive:
            return self._conn
        if self._conn is not None:
            self._release()
        self._start()
        if self._init_config is not _MISSING:
            config, self._init_config = self._init_config, _MISSING
            try:
                self._call("init", [config])
                self._init_config = config
            except VCSError as exc:
                raise PluginLoadError(f"init({_short(config)}) failed again after a restart: "
                                      f"{exc.message}", plugin=self.name,
                                      details={"stage": "register"}) from exc
        assert self._conn is not None
        return self._conn

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            with contextlib.suppress(OSError):
                self._temp.with_name(self._temp.name + ".log").unlink()
            self._temp = None

    def close(self) -> None:
        """Stop the worker and remove its temp dir; the object cannot call again."""
        self._release()
        self._closed = True

    def log_tail(self) -> str:
        """The last 64 KiB the plugin printed (stdout and stderr)."""
        return self._ring.text()

    # -- calls ------------------------------------------------------------------------------

    def init(self, config: Any = _MISSING) -> Any:
        """``init(config)``; without an argument ``{}`` (SPEC 5).  Replayed after a respawn."""
        return self.call("init", {} if config is _MISSING else config)

    def preprocess(self, dataset_dir: str) -> Any:
        return self.call("preprocess", dataset_dir)

    def train(self, dataset: Any, on_progress: Callable[..., Any] | None = None) -> Any:
        """``train``; ``on_progress`` gets each event while it runs, in the core's shape."""
        return self.call("train", dataset, on_progress=on_progress)

    def synthesize(self, text: Any, voice_config: Any = None) -> Any:
        return self.call("synthesize", text, {} if voice_config is None else voice_config)

    def call(self, hook: str, *args: Any, on_progress: Callable[..., Any] | None = None) -> Any:
        """Call ``hook`` with core-shaped ``args``; returns the core-shaped, validated result."""
        if hook not in self.hooks:
            raise ValueError(f"plugin {self.name} provides no {hook!r} hook (it provides: "
                             f"{', '.join(self.hooks) or 'none'})")
        record = CallRecord(hook)
        self.last_call = record
        started = time.perf_counter()
        try:
            value = self._call(hook, list(args), on_progress, record)
        except VCSError as exc:
            exc.plugin = exc.plugin or self.name
            exc.hook = exc.hook or hook
            record.error = exc.code
            raise
        finally:
            record.seconds = time.perf_counter() - started
            conn = self._conn
            if conn is not None:
                record.worker_pid = conn.pid
                if conn.usable:
                    record._leftovers = conn.leftovers
        if hook == "init":
            self._init_config = args[0]
        return value

    def _call(self, hook: str, args: list[Any], on_progress: Callable[..., Any] | None = None,
              record: CallRecord | None = None) -> Any:
        host = self._host
        root = host.workspace.root
        ctx = ShimContext(root)
        plugin_args = self._chain.down_args(hook, args, ctx) if self._chain.steps else args
        self._next_id += 1
        call_id = self._next_id
        message = {"op": "call", "id": call_id, "hook": hook, "args": plugin_args,
                   "log_level": self.logger.getEffectiveLevel()}
        try:
            encoded = _worker.encode_frame(message, max_bytes=self.limits.max_frame_bytes)
        except _worker.FrameError as exc:
            raise ValueError(f"the arguments of {hook} are not strict JSON: {exc}") from None
        conn = self._worker()
        tracker = ProgressTracker(self.plugin_api) if hook == "train" else None
        callback_errors: list[BaseException] = []
        events = 0

        def on_event(frame: dict[str, Any]) -> None:
            nonlocal events
            assert tracker is not None
            events += 1
            if events > self.limits.max_progress_events:  # a flood would fill host memory
                raise ResourceLimitExceeded(
                    f"train sent more than {self.limits.max_progress_events} progress events "
                    "in one call; the worker was stopped", limit="progress_events",
                    hint="call progress_cb when the percentage changes, not on every step")
            if "invalid" in frame:
                tracker.invalid(str(frame["invalid"]))
                return
            raw = frame.get("args")
            if not isinstance(raw, list):
                tracker.invalid("malformed progress frame")
                return
            if not tracker.add(raw) and (self._host.strict_progress or not raw):
                return
            event = self._chain.up_progress(tuple(raw))
            if self.core_api == "1.0":
                event = event[:1]
            if record is not None:
                record.progress.append(event)
            if on_progress is not None and not callback_errors:
                try:
                    on_progress(*event)
                except BaseException as exc:  # re-raised once the worker is idle again
                    callback_errors.append(exc)

        reply = conn.exchange(message, timeout=self.limits.timeout_seconds,
                              on_event=on_event if tracker else None, encoded=encoded)
        if callback_errors:
            raise callback_errors[0]
        if record is not None:
            spent = reply.get("ns")
            if type(spent) is int and spent >= 0:
                record.plugin_seconds = spent / 1e9
        value = self._reply_value(reply, call_id)
        if tracker is not None and self._host.strict_progress:
            tracker.finish(success=True)
        if self._chain.steps:
            validate_shape(hook, value, self.plugin_api)
            value = self._chain.up_result(hook, value, ctx)
        validate_output(hook, value, api=self.core_api, workspace=root,
                        text=args[0] if hook == "synthesize" else None)
        return value

    def _reply_value(self, reply: Mapping[str, Any], call_id: int) -> Any:
        op = reply.get("op")
        if reply.get("id") != call_id or op not in ("result", "error", "bad_output"):
            assert self._conn is not None
            self._conn.kill()
            raise ProtocolError(f"expected the answer to call {call_id}, got {_short(reply)}")
        if op == "result":
            return reply.get("value")
        if op == "bad_output":  # the worker could not encode it: not strict JSON
            raise OutputInvalid(str(reply.get("message")), details={"non_json": True})
        kind = str(reply.get("type", "Exception"))
        message = str(reply.get("message", ""))
        trace = str(reply.get("traceback", ""))
        if reply.get("value_error"):
            raise InvalidInputRejected(f"{kind}: {message}", remote_type=kind,
                                       details={"remote_traceback": trace})
        limit = reply.get("limit")
        if isinstance(limit, str):
            what = "ran out of memory" if limit == "memory" else f"hit its {limit} limit"
            raise ResourceLimitExceeded(f"the plugin {what} ({kind}: {message})", limit=limit,
                                        details={"remote_traceback": trace})
        raise HookError(f"{kind}: {message}", remote_type=kind, remote_traceback=trace)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _default_launcher() -> Launcher:
    """The strongest sandbox this machine gives (SPEC 6), as ``make_launcher("auto")``.

    Why not the unconfined :class:`SubprocessLauncher`: a host that forgets
    to pass a launcher would run untrusted plugins with the caller's files,
    network and secrets, silently.  ``auto`` warns when it falls back; pass
    ``launcher=make_launcher("off")`` to run unconfined on purpose (loudly).
    Imported here, not at module level: the sandbox package is only needed
    once a host is made.
    """
    from .sandbox import make_launcher

    return make_launcher("auto")


class PluginHost:
    """Loads plugins and drives their hooks as core ``core_version`` would (SPEC 1, 3-5).

    Without ``launcher`` the plugins run in the strongest sandbox available
    (``make_launcher("auto")``, SPEC 6), never silently unconfined.
    """

    def __init__(self, core_version: str = CURRENT_CORE,
                 workspace: str | os.PathLike[str] | Workspace | None = None, *,
                 shim_window: int = DEFAULT_SHIM_WINDOW, launcher: Launcher | None = None,
                 env_provider: EnvProvider | None = None, limits: Limits | None = None,
                 max_limits: Limits | None = None, logger: logging.Logger | None = None,
                 settings: Mapping[str, Any] | None = None,
                 shim_steps: Mapping[tuple[str, str], ShimStep] | None = None,
                 extra_env: Mapping[str, str] | None = None,
                 strict_progress: bool = True) -> None:
        major, minor = parse_api(core_version)  # InvalidVersionString (a ValueError)
        self.core_api = f"{major}.{minor}"
        if shim_window < 0:
            raise ValueError(f"shim_window must be 0 or more, not {shim_window}")
        self.core_version = core_version
        self.shim_window = shim_window
        self.launcher: Launcher = launcher if launcher is not None else _default_launcher()
        self.env_provider: EnvProvider = env_provider if env_provider is not None \
            else CurrentEnvProvider()
        self.limits = limits if limits is not None else Limits()
        self.max_limits = max_limits if max_limits is not None else DEFAULT_MAX_LIMITS
        self.logger = logger if logger is not None else logging.getLogger("vcs_conformance")
        self.settings: Mapping[str, Any] = dict(settings if settings is not None
                                                else DEFAULT_SETTINGS)
        self.shim_steps = dict(shim_steps or {})
        self.extra_env = dict(extra_env or {})
        #: False: progress events are passed on as the plugin sent them and
        #: never fail a call (a caller that judges progress itself, like the
        #: conformance kit, attributes a progress defect to the right check).
        self.strict_progress = strict_progress
        self.scratch = Path(tempfile.mkdtemp(prefix="vcs-host-")).resolve()
        if workspace is None:
            self.workspace = create_workspace(self.scratch / "workspace")
        elif isinstance(workspace, Workspace):
            self.workspace = workspace
        else:
            self.workspace = create_workspace(workspace)
        self.plugins: list[LoadedPlugin] = []
        self._write_meter: WriteMeter | None = None

    @property
    def write_meter(self) -> WriteMeter:
        """Measures cache/, models/ and outputs/ around every exchange (the write cap)."""
        if self._write_meter is None:
            self._write_meter = WriteMeter(self.workspace.root)
        return self._write_meter

    def __enter__(self) -> PluginHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sandbox_report(self) -> SandboxReport:
        """What the launcher really enforces (SPEC 6)."""
        return self.launcher.report()

    def load(self, handle: str | os.PathLike[str]) -> LoadedPlugin:
        """Load a plugin: installed distribution or entry-point name, project dir, sdist, wheel.

        Raises :class:`IncompatiblePlugin` (after a :class:`VCSCompatibilityWarning`),
        :class:`ManifestError`, :class:`PluginLoadError` or a worker failure.
        """
        env = self.env_provider.prepare(handle, scratch=self.scratch)
        manifest = load_manifest(env.manifest_path) if env.manifest_path is not None else None
        plugin = LoadedPlugin(self, os.fspath(handle), env, manifest)
        if manifest is not None:
            plugin._decide()
        try:
            plugin._start()
        except BaseException:
            plugin.close()
            raise
        self.plugins.append(plugin)
        return plugin

    def close(self) -> None:
        """Stop every worker and remove the host's scratch space."""
        for plugin in self.plugins:
            with contextlib.suppress(Exception):
                plugin.close()
        self.plugins.clear()
        if self._write_meter is not None:
            self._write_meter.close()
            self._write_meter = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def decide(self, manifest: Manifest) -> Decision:
        """SPEC 1's verdict for ``manifest`` on this host (no worker started)."""
        return decide(manifest.api_version, self.core_version, window=self.shim_window,
                      core_spec=manifest.core_version, platforms=manifest.platforms)
