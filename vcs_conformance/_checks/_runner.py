"""One plugin under test: loaded once per pytest process, shared by its checks.

The runner owns the host (env provider, launcher, workspace under pytest's
basetemp), remembers each check's outcome so that a check whose
prerequisite failed is skipped with that reason instead of failing twice,
and records hygiene evidence (processes left behind, writes outside the
read-write areas) across every call any check makes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .._api import CORE_FOR_API
from ..compat import Decision, decide
from ..errors import (
    IncompatiblePlugin,
    InvalidInputRejected,
    ManifestError,
    VCSError,
)
from ..manifest import Manifest, load_manifest
from ..workspace import Workspace, create_workspace
from ._catalogue import BY_ID, CheckSpec
from ._outcome import CheckFailed, CheckResult, CheckSkipped
from ._rowatch import ReadOnlyWatch, Snapshot
from ._settings import Settings

Outcome = tuple[str, Any]  # ("ok", result) or ("rejected", InvalidInputRejected)


class TempDirs(Protocol):
    """What the runner needs of pytest's ``TempPathFactory`` (replay passes its own)."""

    def mktemp(self, basename: str, numbered: bool = True) -> Path: ...


class PluginRun:
    """One plugin under test.

    ``shim_steps`` replaces shim steps of the host (``{("1.1", "1.2"): step}``):
    the kit's own tests inject a deliberately broken shim through it to prove
    that ``shim-equivalence`` catches one.
    """

    shim_steps: dict[tuple[str, str], Any] | None = None

    def __init__(self, handle: str, settings: Settings, factory: TempDirs,
                 *, rootdir: Path) -> None:
        self.handle = handle
        self.settings = settings
        self.factory = factory
        self.rootdir = rootdir
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.results: dict[str, CheckResult] = {}
        self.hygiene: list[str] = []
        #: The calls that left hygiene evidence (each record gains ``created``: the paths
        #: it created outside the read-write areas), so hygiene's bundle names the culprit.
        self.hygiene_calls: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.last_call: dict[str, Any] | None = None
        #: Seconds the plugin's hooks ran (measured in the worker), over every call so far.
        self.plugin_seconds = 0.0
        self._ro_watch: ReadOnlyWatch | None = None
        self._host: Any = None
        self._plugin: Any = None
        self._load_error: VCSError | None = None
        self._native: Any = None
        self._ws: Workspace | None = None
        self._logged: _LogTail | None = None
        self.manifest: Manifest | None = None
        self.manifest_error: ManifestError | None = None
        path = Path(handle)
        source = path if path.exists() else _installed_manifest(handle)
        if source is not None:
            try:
                self.manifest = load_manifest(source)
            except ManifestError as exc:
                self.manifest_error = exc
        self.name = self.manifest.name if self.manifest else (path.name or handle)
        self.decision: Decision | None = None
        if self.manifest is not None:
            self.decision = decide(self.manifest.api_version, settings.core_version,
                                   window=settings.shim_window,
                                   core_spec=self.manifest.core_version,
                                   platforms=self.manifest.platforms)

    # -- identity -------------------------------------------------------------

    @property
    def core_version(self) -> str:
        return self.settings.core_version

    @property
    def shimmed(self) -> bool:
        return self.decision is not None and self.decision.kind == "shim"

    @property
    def node_suffix(self) -> str:
        if self.shimmed and self.decision is not None:
            return "[" + "-".join(self.decision.chain) + "]"
        return ""

    def properties(self) -> list[tuple[str, Any]]:
        props: list[tuple[str, Any]] = [("vcs_core", self.core_version)]
        if self.manifest:
            props.append(("vcs_api", self.manifest.api_version))
        if self.decision:
            props.append(("vcs_decision", self.decision.label()))
        return props

    # -- the host ---------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        if self._ws is None:
            root = self.factory.mktemp(f"vcs-{_slug(self.name)}-ws", numbered=True)
            self._ws = create_workspace(root)
        return self._ws

    def _make_host(self, core_version: str) -> Any:
        from ..host import PluginHost  # heavy imports only when a check needs the host
        from ..sandbox import make_launcher

        launcher = make_launcher(self.settings.sandbox)
        provider: Any = None
        if self.settings.env == "isolated":
            from ..envs import IsolatedEnvProvider

            provider = IsolatedEnvProvider(offline=self.settings.offline,
                                           find_links=self.settings.find_links,
                                           install_system_deps=self.settings.install_system_deps)
        # Progress is judged by train-progress itself (strict_progress=False), so
        # a progress defect fails that check, not train-valid as well.
        host = PluginHost(core_version=core_version, workspace=self.workspace.root,
                          shim_window=self.settings.shim_window, launcher=launcher,
                          env_provider=provider, shim_steps=self.shim_steps,
                          strict_progress=False)
        if self._logged is None:
            self._logged = _LogTail(host.logger.getChild("plugin"), self.name)
        return host

    def log_tail(self, plugin: Any = None) -> str:
        """What the plugin printed and logged (``registry.logger``), last lines last."""
        printed = _tail(plugin if plugin is not None else self._plugin)
        logged = "\n".join(self._logged.lines) if self._logged is not None else ""
        return "\n".join(part.rstrip("\n") for part in (logged, printed) if part.strip())

    def plugin(self) -> Any:
        """The loaded plugin on the core under test, or the error that stopped it."""
        if self._plugin is None and self._load_error is None:
            try:
                self._host = self._make_host(self.core_version)
                self._host.__enter__()
                self._plugin = self._host.load(self.handle)
            except VCSError as exc:
                self._load_error = exc
        if self._load_error is not None:
            raise self._load_error
        return self._plugin

    def native_plugin(self) -> Any:
        """The same plugin on its own core (for shim-equivalence)."""
        if self._native is None:
            assert self.manifest is not None
            host = self._make_host(CORE_FOR_API[self.manifest.api_version])
            host.__enter__()
            self._native = (host, host.load(self.handle))
        return self._native[1]

    def reset(self) -> None:
        """Forget the loaded plugin (its host may be mid-exchange after a pytest-timeout
        expiry): the next check loads it afresh.  The workspace, the read-only watch,
        the log tail and the evidence gathered so far stay."""
        self._exit_hosts()
        self._host = self._plugin = self._native = self._load_error = None

    def _exit_hosts(self) -> None:
        for holder in (self._host, self._native[0] if self._native else None):
            if holder is not None:
                with contextlib.suppress(Exception):
                    holder.__exit__(None, None, None)

    def close(self) -> None:
        if self._ro_watch is not None:
            self._ro_watch.close()
        if self._logged is not None:
            self._logged.detach()
        self._exit_hosts()

    # -- calls ------------------------------------------------------------------

    def call(self, hook: str, *args: Any, plugin: Any = None,
             on_progress: Callable[..., None] | None = None) -> Outcome:
        """Call a hook; ``ValueError`` is an outcome, anything else a failure."""
        target = plugin if plugin is not None else self.plugin()
        record = {"hook": hook, "args": list(args), "core": target.decision.core_version
                  if getattr(target, "decision", None) else self.core_version}
        self.last_call = record
        before = self._read_only_snapshot()
        started = time.perf_counter()
        try:
            if hook == "train":
                result = target.train(args[0], on_progress=on_progress)
            else:
                result = getattr(target, hook)(*args)
            outcome: Outcome = ("ok", result)
        except InvalidInputRejected as exc:
            outcome = ("rejected", exc)
        except VCSError as exc:
            if exc.details.get("non_json"):  # hygiene's rule too (SPEC 7), whatever the check
                record["non_json"] = exc.message
            expected = (f"{hook} to return a valid result (SPEC 4-5)"
                        if exc.code == "output-invalid"
                        else f"{hook} to return or raise ValueError")
            raise CheckFailed(
                expected=expected,
                seen=f"{type(exc).__name__} [{exc.code}]: {exc.message}",
                example=record["args"], hook=hook,
                log_tail=self.log_tail(target) + _traceback(exc),
                details={"call": record, "error": exc.to_json()}) from None
        except ValueError as exc:  # the host refused to send it: not strict JSON
            raise CheckFailed(
                expected=f"arguments for {hook} that the core can send (strict JSON)",
                seen=f"the host refused them: {exc}", example=repr(record["args"])[:600],
                hook=hook, details={"call": {**record, "args": []}}) from None
        finally:
            record["seconds"] = round(time.perf_counter() - started, 4)
            spent = getattr(getattr(target, "last_call", None), "plugin_seconds", None)
            if isinstance(spent, float):
                self.plugin_seconds += spent
            self._hygiene_after(target, record, before)
        return outcome

    def _read_only_snapshot(self) -> Snapshot:
        """The workspace outside the read-write areas (walked only when it changed)."""
        if self._ro_watch is None:
            self._ro_watch = ReadOnlyWatch(self.workspace.root)
        return self._ro_watch.current()

    def _hygiene_after(self, target: Any, record: dict[str, Any], before: Snapshot) -> None:
        hook = record["hook"]
        found = len(self.hygiene)
        leftover = []
        last = getattr(target, "last_call", None)
        if last is not None:
            leftover = list(getattr(last, "leftover_pids", []) or [])
        if leftover:
            self.hygiene.append(f"{hook}: processes left running after the call: {leftover}")
        if "non_json" in record:
            self.hygiene.append(f"{hook}: returned a value that is not strict JSON: "
                                f"{record['non_json']}")
        after = self._read_only_snapshot()
        created = []
        if after is not before and after != before:
            for path in sorted(set(before) | set(after)):
                if before.get(path) != after.get(path):
                    change = ("created" if path not in before else
                              "deleted" if path not in after else "modified")
                    if change == "created":
                        created.append(path)
                    self.hygiene.append(f"{hook}: {change} {path} outside cache/, models/, "
                                        "outputs/")
        if len(self.hygiene) > found:
            record["created"] = created
            self.hygiene_calls.append(record)

    # -- checks -----------------------------------------------------------------

    def run_check(self, spec: CheckSpec) -> CheckResult:
        from ._checks_impl import CHECKS

        result = CheckResult()
        try:
            self._require(spec)
            CHECKS[spec.id](self, spec, result)
        except CheckSkipped as exc:
            self.outcomes[spec.id] = ("skipped", str(exc))
            raise
        except CheckFailed as exc:
            self.outcomes[spec.id] = ("failed", exc.seen)
            raise
        self.outcomes[spec.id] = ("passed", "")
        self.results[spec.id] = result
        return result

    def _require(self, spec: CheckSpec) -> None:
        for need in spec.needs:
            if need not in self.outcomes:
                with contextlib.suppress(CheckFailed, CheckSkipped):
                    self.run_check(BY_ID[need])
            outcome, why = self.outcomes[need]
            if outcome == "skipped":
                raise CheckSkipped(why)  # e.g. the incompatibility reason, passed down
            if outcome == "failed":
                raise CheckSkipped(f"{spec.id} needs {need}, which failed: {why}")
        if spec.hook is not None:
            hooks = self.plugin().hooks
            if spec.hook not in hooks:
                raise CheckSkipped(f"the plugin provides no {spec.hook!r} hook "
                                   f"(it provides: {', '.join(sorted(hooks)) or 'none'})")

    # -- reporting --------------------------------------------------------------

    def header_lines(self) -> list[str]:
        lines = []
        if self.manifest is None:
            why = self.manifest_error.problems[0].render() if self.manifest_error else \
                "manifest not read yet"
            return [f"vcs-conformance: {self.handle}: {why}"]
        m = self.manifest
        assert self.decision is not None
        lines.append(f"vcs-conformance: plugin {m.name} {m.version}, targets API "
                     f"{m.api_version}: {self.decision.label()} on core {self.core_version}"
                     + ("" if self.decision.compatible else f" ({self.decision.message})"))
        if self.decision.compatible:
            with contextlib.suppress(VCSError):
                plugin = self.plugin()
                report = self._host.sandbox_report()
                lines.append(f"vcs-conformance: {report.summary()}")
                env = getattr(plugin, "env", None)
                if env is not None:
                    lines.append(f"vcs-conformance: {_env_summary(env)}")
            if self._load_error is not None:
                lines.append(f"vcs-conformance: load failed: [{self._load_error.code}] "
                             f"{self._load_error.message}")
        return lines

    def report_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"handle": self.handle, "name": self.name}
        if self.manifest:
            info.update(version=self.manifest.version, api_version=self.manifest.api_version)
        if self.decision:
            info["decision"] = {"kind": self.decision.kind, "chain": list(self.decision.chain),
                                "rule": self.decision.rule, "message": self.decision.message}
        if self._host is not None:
            with contextlib.suppress(Exception):
                info["sandbox"] = self._host.sandbox_report().to_json()
        if self._plugin is not None and getattr(self._plugin, "env", None) is not None:
            info["env"] = {"kind": self._plugin.env.kind, **dict(self._plugin.env.info)}
        return info

    def database_key(self, check_id: str) -> str:
        """The hypothesis database key of a check's examples (recorded in its bundle)."""
        return f"vcs-{self.name}-{check_id}"

    def sandbox_level(self) -> str:
        """The level the worker really runs at (``auto`` resolved), else the one asked for."""
        if self._host is not None:
            with contextlib.suppress(Exception):
                return str(self._host.sandbox_report().level)
        return self.settings.sandbox

    def write_repro(self, spec: CheckSpec, exc: CheckFailed) -> Path | None:
        """``vcs-repro/<plugin>/<check>.json``: everything needed to rerun the failing call.

        Also sets the failure's replay and ``vcs-conformance run`` commands.
        """
        from ._bundle import write_bundle

        return write_bundle(self, spec, exc)


def _installed_manifest(name: str) -> Path | None:
    """The manifest of an installed distribution or entry point called ``name``.

    Found through this interpreter's ``importlib.metadata`` (the host's view,
    used only to name the items and decide compatibility before any env is
    built; the worker rediscovers the plugin in its own interpreter).
    """
    from importlib import metadata
    from importlib.util import find_spec

    from packaging.utils import canonicalize_name

    from .._api import ENTRY_POINT_GROUP, MANIFEST_NAME

    wanted = canonicalize_name(name)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ""
        if ep.name != name and canonicalize_name(dist) != wanted:
            continue
        top = ep.value.split(":", 1)[0].strip().split(".", 1)[0]
        with contextlib.suppress(ImportError, ValueError):
            spec = find_spec(top)
            if spec is not None and spec.submodule_search_locations:
                for location in spec.submodule_search_locations:
                    candidate = Path(location) / MANIFEST_NAME
                    if candidate.is_file():
                        return candidate
    return None


def _env_summary(env: Any) -> str:
    """One header line: which interpreter, which installer, cache hit, stage timings."""
    info = dict(env.info)
    python = info.get("python") or str(env.python)
    if env.kind != "isolated":
        return f"env {env.kind}: {python} (the plugin runs on this interpreter's packages)"
    timings = dict(info.get("timings") or {})
    stages = ", ".join(f"{k} {float(v):.2f}s" for k, v in timings.items()) or "none"
    return (f"env isolated: python {python}, installer {info.get('installer', '?')}, cache "
            f"{'hit' if info.get('cache_hit') else 'miss'}, stages {stages}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60] or "plugin"


class _LogTail(logging.Handler):
    """The last records the plugin logged through ``registry.logger``, for failure messages.

    The host forwards them to ``<host logger>.plugin.<name>`` and tells the
    worker the level to send from, so that logger is set to INFO (unless the
    user set it lower); records still propagate to pytest's log capture.
    """

    def __init__(self, logger: logging.Logger, plugin: str) -> None:
        super().__init__(logging.INFO)
        self.logger, self.plugin = logger, plugin
        self.lines: deque[str] = deque(maxlen=50)
        self.old_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "vcs_plugin", self.plugin) != self.plugin:
            return  # another plugin of the same run
        with contextlib.suppress(Exception):
            self.lines.append(f"[{record.levelname.lower()}] "
                              f"{getattr(record, 'vcs_remote_logger', None) or record.name}: "
                              f"{record.getMessage()}")

    def detach(self) -> None:
        self.logger.removeHandler(self)
        if not any(isinstance(h, _LogTail) for h in self.logger.handlers):
            self.logger.setLevel(self.old_level)


def _traceback(exc: VCSError) -> str:
    trace = str(getattr(exc, "remote_traceback", "") or "")
    return ("\nplugin traceback:\n" + trace.rstrip()) if trace.strip() else ""


def _tail(plugin: Any) -> str:
    with contextlib.suppress(Exception):
        return str(plugin.log_tail())
    return ""


__all__ = ["IncompatiblePlugin", "PluginRun"]
