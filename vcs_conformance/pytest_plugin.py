"""The pytest plugin: ``pytest --vcs-plugin=NAME`` runs SPEC 7's catalogue.

Registered through the ``pytest11`` entry point and inert unless
``--vcs-plugin`` or ``--vcs-replay`` (or their ini keys) is given, so installing the
kit never disturbs another test suite.  Items are made in
``pytest_collection_modifyitems`` (as pytest-mypy does): one per check id
per plugin, node id ``vcs/<plugin>/<check-id>``, so ``-k synthesize`` and
``--deselect`` work and the items run beside the repository's own tests.
State lives in ``config.stash``; settings are shown in the report header.

Each item carries a pytest-timeout marker as a backstop behind the host's
own per-call timeouts: the sum of the clamped call timeouts the check may
make plus a margin, with the ``signal`` method (SIGALRM in the main
thread) so an expiry fails that item and the run goes on; the ``thread``
method would end the whole process with ``os._exit``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._checks._catalogue import BY_ID, CATALOGUE, CheckSpec, checks_for_suite
from ._checks._expect import ExpectationsError, load_expectations, write_expectations
from ._checks._outcome import CheckFailed, CheckSkipped
from ._checks._report import Accounting, write_report
from ._checks._settings import Settings, add_options, settings_from

#: Host calls a check that makes no hypothesis examples may make (loads included).
FIXED_CHECK_CALLS = 10
#: Calls beyond ``examples``: edge examples, loads and the replay of the shrunk example.
EXTRA_GENERATED_CALLS = 20
#: Seconds an item may spend outside plugin calls (wheel builds, hypothesis, validation).
ITEM_TIMEOUT_MARGIN_S = 120.0
#: The first item to load a plugin may build its isolated env (the installer's own limit).
ENV_BUILD_ALLOWANCE_S = 1800.0

SETTINGS = pytest.StashKey[Settings]()
STATE = pytest.StashKey["_State"]()


class VCSNewCheckWarning(UserWarning):
    """A check newer than the pinned ``--vcs-suite`` failed: a warning, not a failure."""


class _State:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.expectations = (load_expectations(settings.expect) if settings.expect else {})
        self.runners: dict[str, Any] = {}
        self.accounting = Accounting()
        #: Runners whose env facts this process already shipped (``vcs_env_info``).
        self.env_shipped: set[str] = set()

    def runner(self, handle: str) -> Any:
        """One runner (plugin loaded in its env and sandbox) per plugin, made lazily."""
        if handle not in self.runners:
            from ._checks._runner import PluginRun

            factory = self.config._tmp_path_factory  # type: ignore[attr-defined]
            self.runners[handle] = PluginRun(handle, self.settings, factory,
                                             rootdir=Path(str(self.config.rootpath)))
        return self.runners[handle]

    def close(self) -> None:
        for run in self.runners.values():
            run.close()

    def catalogue_sizes(self) -> dict[str, int]:
        """Per plugin name, the checks that apply to it (shim-only ones only when shimmed)."""
        sizes: dict[str, int] = {}
        for handle in self.settings.plugins:
            try:
                run = self.runner(handle)
            except Exception:  # accounting must not break the summary
                continue
            sizes[run.name] = sum(1 for spec, _ in checks_for_suite(self.settings.suite)
                                  if not spec.shim_only or run.shimmed)
        return sizes


def _xdist_controller(config: pytest.Config) -> bool:
    """The pytest-xdist controller: it runs no item, so it never loads a plugin."""
    return (not hasattr(config, "workerinput")
            and config.pluginmanager.has_plugin("dsession"))


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    settings = settings_from(config)
    config.stash[SETTINGS] = settings
    config.addinivalue_line("markers", "vcs(check, area): an item of the VCS conformance kit")
    for area in sorted({c.area for c in CATALOGUE}):
        config.addinivalue_line("markers", f"vcs_{area}: VCS conformance checks of area {area}")
    if not settings.active:
        return
    try:
        checks_for_suite(settings.suite)
        for handle in settings.plugins:
            _check_handle(handle)
        if settings.report is not None:
            _check_writable(settings.report, "--vcs-report")
        if settings.replay is not None:  # an unusable bundle is a usage error, before the run
            from ._checks._replay import check_plugin, load_bundle, settings_for

            bundle = load_bundle(settings.replay)
            check_plugin(settings_for(bundle, settings).plugins[0], "--vcs-plugin")
        config.stash[STATE] = _State(config, settings)
    except (ExpectationsError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_handle(handle: str) -> None:
    """A plugin that names nothing is a usage error, not a run of 18 skips that exits 0."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    if Path(handle).exists():
        return
    looks_like_path = "/" in handle or handle.endswith((".whl", ".tar.gz", ".zip"))
    if not looks_like_path:
        wanted = canonicalize_name(handle)
        for ep in metadata.entry_points(group="vcs.plugins"):
            dist = ep.dist.name if ep.dist is not None else ""
            if ep.name == handle or canonicalize_name(dist) == wanted:
                return
    raise ValueError(
        f"--vcs-plugin={handle}: no such project directory, wheel or sdist"
        + ("" if looks_like_path else ", and no installed distribution or vcs.plugins entry "
           "point of that name") + " (give a path, or install the plugin first)")


def _check_writable(path: Path, flag: str) -> None:
    """Fail before the run, not after it, when a report cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{flag}={path}: cannot create {path.parent}: "
                         f"{exc.strerror or exc}") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{flag}={path}: not writable")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    s = state.settings
    lines = [
        f"vcs-conformance: core {s.core_version}, shim window {s.shim_window}, suite {s.suite}, "
        f"profile {s.profile} ({s.examples_for(None)} examples/check), sandbox {s.sandbox}, "
        f"env {s.env}" + (f", hypothesis seed {s.seed!r}" if s.seed is not None else ""),
    ]
    controller = _xdist_controller(config)
    for handle in s.plugins:
        try:
            run = state.runner(handle)
            # The xdist controller runs no check, and a replay loads the plugin under the
            # bundle's settings: loading it here would start a sandboxed worker (and maybe
            # build the env) only to print two lines.
            lines.extend(_decision_lines(run) if controller or s.replay is not None
                         else run.header_lines())
        except Exception as exc:  # the header must never break the run
            lines.append(f"vcs-conformance: {handle}: {exc}")
    if controller and s.plugins:
        lines.append("vcs-conformance: sandbox and env are set up by each xdist worker; "
                     "see the summary and the JSON report (info.env_processes)")
    return lines


def _decision_lines(run: Any) -> list[str]:
    """The header's first line for a plugin, from its manifest alone (no worker started)."""
    if run.manifest is None or run.decision is None:
        return list(run.header_lines())  # the manifest problem: read, not loaded
    m, d = run.manifest, run.decision
    return [f"vcs-conformance: plugin {m.name} {m.version}, targets API {m.api_version}: "
            f"{d.label()} on core {run.core_version}"
            + ("" if d.compatible else f" ({d.message})")]


def _shim_chain(run: Any) -> str:
    """``1.1->1.2`` when a shim chain serves the plugin, ``native``, or ``none`` (incompatible)."""
    decision = run.decision
    if decision is None or not decision.compatible:
        return "none"
    return "->".join(decision.chain) if run.shimmed else "native"


def _ship_env_info(state: _State, run: Any, item: pytest.Item) -> None:
    """Once per plugin and process: the env facts, for the controller's report."""
    if run.handle in state.env_shipped:
        return
    info = run.report_info()
    if "env" not in info:
        return  # not loaded (yet) in this process
    state.env_shipped.add(run.handle)
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    item.user_properties.append(("vcs_env_info", json.dumps({"worker": worker, **info["env"]},
                                                            default=str)))


class CheckItem(pytest.Item):
    """One check id for one plugin."""

    def __init__(self, *, spec: CheckSpec, handle: str, binding: bool, plugin_name: str,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.handle = handle
        self.binding = binding
        self.add_marker(pytest.mark.vcs(spec.id, spec.area))
        self.add_marker(getattr(pytest.mark, f"vcs_{spec.area}"))
        self.user_properties.append(("vcs_check", spec.id))
        self.user_properties.append(("vcs_plugin", plugin_name))
        self.user_properties.append(("vcs_handle", handle))

    def runtest(self) -> None:
        state: _State = self.config.stash[STATE]
        run = state.runner(self.handle)
        for key, value in run.properties():
            self.user_properties.append((key, value))
        self.user_properties.append(("vcs_shim_chain", _shim_chain(run)))
        expectation = state.expectations.get(self.spec.id)
        if expectation is not None and not expectation.applies(run.core_version, run.name):
            expectation = None
        plugin_before = run.plugin_seconds
        try:
            result = run.run_check(self.spec)
        except CheckSkipped as exc:
            pytest.skip(str(exc))
        except CheckFailed as exc:
            self.user_properties.append(("vcs_outcome", "failed"))
            examples = exc.details.get("examples_run")
            if isinstance(examples, int):
                self.user_properties.append(("vcs_examples", examples))
            try:
                bundle = run.write_repro(self.spec, exc)
            except (OSError, shutil.Error) as err:  # the verdict stands without its bundle
                bundle = None
                exc.seen += f"\n(no replay bundle could be written: {err})"
            if bundle is not None:
                self.user_properties.append(("vcs_repro", str(bundle)))
            if expectation is not None:
                pytest.xfail(f"expected failure: {expectation.reason}"
                             + (f" ({expectation.issue})" if expectation.issue else ""))
            if not self.binding:
                warnings.warn(VCSNewCheckWarning(
                    f"{self.spec.id} (suite {self.spec.suite}, newer than the pinned suite "
                    f"{state.settings.suite}) failed; it will be binding once you move to suite "
                    f"{self.spec.suite}:\n{exc}"), stacklevel=1)
                return
            raise
        except BaseException as exc:
            from ._checks._hypo import is_item_timeout  # hypothesis: only when active

            if is_item_timeout(exc):
                self.user_properties.append(("vcs_outcome", "failed"))
                run.reset()
            raise
        finally:
            _ship_env_info(state, run, self)
        self.user_properties.append(("vcs_examples", result.examples))
        # The plugin's own share of the check's time (its hooks, timed in the worker).
        self.user_properties.append(("vcs_plugin_s", round(run.plugin_seconds - plugin_before,
                                                           6)))
        if result.kit_seconds:
            self.user_properties.append(
                ("vcs_kit_ms", round(statistics.median(result.kit_seconds) * 1000, 3)))
        self.user_properties.append(("vcs_outcome", "passed"))
        if expectation is not None:
            pytest.fail(f"{self.spec.id} was expected to fail ({expectation.reason}) but passed: "
                        f"delete its entry from {state.settings.expect}", pytrace=False)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"[{self.spec.id}] {self.handle}\n{excinfo.value.render()}"
        from ._checks._hypo import is_item_timeout

        if is_item_timeout(excinfo.value):
            return (f"[{self.spec.id}] {self.handle}\n{str(excinfo.value).splitlines()[0]} "
                    "the check outlived every host call timeout it could make: a hang the "
                    "host cannot see (the stacks are in the captured stderr)")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return (self.handle, None, self.name)


class ReplayItem(pytest.Item):
    """``--vcs-replay=FILE``: the one call of a replay bundle, judged by its check's rule."""

    def runtest(self) -> None:
        from ._checks._replay import pytest_replay

        pytest_replay(self, self.config.stash[STATE])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"[replay] still failing\n{excinfo.value.render()}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return (self.name, None, self.name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.settings.replay is not None:
        item = ReplayItem.from_parent(session, name=f"vcs/replay/{state.settings.replay.name}",
                                      nodeid=f"vcs/replay/{state.settings.replay.name}")
        items.append(item)
        config.hook.pytest_collectreport(report=pytest.CollectReport(
            "vcs/replay", "passed", None, [item]))
        return
    for handle in state.settings.plugins:
        made: list[pytest.Item | pytest.Collector] = list(_items_for(session, state, handle))
        items.extend(item for item in made if isinstance(item, pytest.Item))
        # Tell the terminal reporter, so "collected N items" counts them.
        config.hook.pytest_collectreport(report=pytest.CollectReport(
            f"vcs/{handle}", "passed", None, made))


def _items_for(session: pytest.Session, state: _State, handle: str) -> Iterator[CheckItem]:
    run = state.runner(handle)
    for spec, binding in checks_for_suite(state.settings.suite):
        if spec.shim_only and not run.shimmed:
            continue
        name = f"vcs/{run.name}/{spec.id}{run.node_suffix}"
        item = CheckItem.from_parent(session, name=name, nodeid=name, spec=spec, handle=handle,
                                     binding=binding, plugin_name=run.name)
        timeout = item_timeout(run, spec, state.settings)
        if timeout:
            item.add_marker(pytest.mark.timeout(timeout, method=TIMEOUT_METHOD))
        yield item


#: SIGALRM fails the item in the main thread; without it (Windows) only "thread" exists.
TIMEOUT_METHOD = "signal" if hasattr(signal, "SIGALRM") else "thread"


def call_timeout(run: Any) -> float:
    """The host's per-call timeout for this plugin: the manifest's request, clamped.

    The same rule the host applies (``clamp_resources`` between the default
    limits and the host's maxima), not the manifest's raw number.
    """
    from ._seams import Limits
    from .host import DEFAULT_MAX_LIMITS
    from .sandbox._limits import clamp_resources

    resources = run.manifest.resources if run.manifest is not None else None
    try:
        return float(clamp_resources(resources, base=Limits(),
                                     maximum=DEFAULT_MAX_LIMITS).timeout_seconds)
    except ValueError:  # a bad manifest: the manifest checks say so; the host uses defaults
        return float(Limits().timeout_seconds)


def item_timeout(run: Any, spec: CheckSpec, settings: Settings) -> float:
    """The backstop: every host call the check may make timing out, plus a margin.

    The host's per-call timeout fires first on a hanging hook (the check then
    fails with the host's message); this only catches a hang the host cannot
    see.  ``shim-equivalence`` calls the plugin twice per example (natively
    and through the chain); ``init-config`` runs its examples twice (valid
    configs, then invalid ones).
    """
    if spec.generated:
        calls = settings.examples_for(spec.hook) + EXTRA_GENERATED_CALLS
        if spec.shim_only or spec.id == "init-config":
            calls *= 2
    else:
        calls = FIXED_CHECK_CALLS
    margin = ITEM_TIMEOUT_MARGIN_S + (ENV_BUILD_ALLOWANCE_S if settings.env == "isolated"
                                      else 0.0)
    return calls * call_timeout(run) + margin


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "vcs_check" not in props or "vcs_plugin" not in props:
        return
    config = _CONFIG.get("config")
    state = config.stash.get(STATE, None) if config is not None else None
    if state is not None:
        state.accounting.record(report, props)


_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.accounting.plugins:
        return
    tr = terminalreporter
    tr.section("vcs-conformance")
    for line in state.accounting.summary_lines(state.catalogue_sizes()):
        tr.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    s = state.settings
    if hasattr(session.config, "workerinput"):
        return  # xdist workers: the controller accounts and reports
    ran = state.accounting.ran()
    if s.min_checks and ran < s.min_checks and not s.replay:
        session.config.stash[STATE].accounting.notes.append(
            f"only {ran} checks ran (passed or failed), fewer than --vcs-min-checks="
            f"{s.min_checks}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if s.report is not None:
        headers = {run.name: run.report_info() for run in state.runners.values()}
        try:
            write_report(s.report, s, state.accounting, headers, state.catalogue_sizes())
        except OSError as exc:
            state.accounting.notes.append(f"--vcs-report: could not write {s.report}: "
                                          f"{exc.strerror or exc}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if s.update_expect and s.expect is not None:
        write_expectations(s.expect, state.expectations, state.accounting.verdicts(),
                           s.core_version)


__all__ = ["BY_ID", "CheckItem", "ReplayItem", "VCSNewCheckWarning"]
