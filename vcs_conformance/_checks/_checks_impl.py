"""The checks of SPEC section 7, one function per stable id.

Each takes the :class:`~._runner.PluginRun`, its catalogue entry and a
result to count examples in; it returns on a pass, raises ``CheckFailed``
with the evidence, or ``CheckSkipped`` with the reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import count
from typing import Any

from ..errors import (
    EnvBuildError,
    IncompatiblePlugin,
    ManifestError,
    PluginCrashed,
    PluginLoadError,
    PluginTimeout,
    ResourceLimitExceeded,
    SandboxUnavailable,
    VCSCompatibilityWarning,
    VCSError,
)
from ..manifest import check_identity, load_manifest
from ..wav import read_info
from ..workspace import BROKEN_DATASET_VARIANTS, expected_dataset, write_dataset
from . import _payloads as pay
from ._catalogue import CheckSpec
from ._hypo import run_examples
from ._outcome import CheckFailed, CheckResult, CheckSkipped, _show
from ._packaging import built_wheel, wheel_entry_points, wheel_identity
from ._runner import PluginRun
from ._shimcheck import shim_equivalence

Check = Callable[[PluginRun, CheckSpec, CheckResult], None]
CHECKS: dict[str, Check] = {}
_names = count()


def check(check_id: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[check_id] = fn
        return fn
    return register


def _examples(run: PluginRun, spec: CheckSpec, result: CheckResult, strategy: Any,
              body: Callable[[Any], None], edges: list[Any] | tuple[Any, ...] = ()) -> None:
    s = run.settings
    run_examples(profile=s.profile, examples=s.examples_for(spec.hook), seed=s.seed,
                 result=result, strategy=strategy, body=body, edges=edges,
                 database_key=f"vcs-{run.name}-{spec.id}")


def _api(run: PluginRun) -> str:
    """The shapes the core under test speaks (payloads are core-side)."""
    from ..compat import parse_api

    return "{}.{}".format(*parse_api(run.core_version))


# -- manifest and packaging ------------------------------------------------------

@check("manifest-present")
def manifest_present(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    wheel = built_wheel(run)
    try:
        load_manifest(wheel)
    except ManifestError as exc:
        located = [p for p in exc.problems if "vcs_plugin.yaml" in p.message
                   or "wheel" in p.message]
        if located:
            raise CheckFailed("vcs_plugin.yaml beside the entry package's __init__.py in the "
                              "built wheel", located[0].message,
                              example=str(wheel)) from None
        # present but invalid: manifest-schema reports that


@check("manifest-schema")
def manifest_schema(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    try:
        load_manifest(built_wheel(run))
    except ManifestError as exc:
        raise CheckFailed("a manifest that parses and validates for its api_version",
                          f"{len(exc.problems)} problem(s):\n" +
                          "\n".join("  " + p.render() for p in exc.problems)) from None


@check("manifest-identity")
def manifest_identity(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    wheel = built_wheel(run)
    manifest = load_manifest(wheel)
    name, version = wheel_identity(wheel)
    problems = check_identity(manifest, name or "?", version or "?")
    if problems:
        raise CheckFailed("manifest name and version equal to the distribution's",
                          "; ".join(p.message for p in problems))


@check("compat-core")
def compat_core(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    decision = run.decision
    if decision is None:
        raise CheckFailed("a manifest to decide compatibility from",
                          f"no manifest found for {run.handle!r}")
    if decision.compatible:
        return
    message = (f"incompatible with core {run.core_version} ({decision.rule}): "
               f"{decision.message}")
    if run.settings.strict_compat:
        raise CheckFailed(f"a plugin compatible with core {run.core_version}", message)
    warnings.warn(VCSCompatibilityWarning(f"{run.name}: {message}"), stacklevel=1)
    raise CheckSkipped(message)


@check("package-entry-point")
def package_entry_point(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    eps = wheel_entry_points(built_wheel(run))
    if len(eps) != 1:
        raise CheckFailed("exactly one entry point in the vcs.plugins group",
                          f"{len(eps)}: {eps}" if eps else "none")
    (name, value), = eps.items()
    if run.manifest is not None and name != run.manifest.name:
        raise CheckFailed(f"the entry point named like the manifest ({run.manifest.name!r})",
                          f"{name!r}")
    module, _, attr = value.partition(":")
    if not all(part.isidentifier() for part in module.strip().split(".")):
        raise CheckFailed("a module path like 'pkg.plugin'", repr(value))
    if attr:
        warnings.warn(UserWarning(f"{run.name}: entry point {value!r} names an attribute; "
                                  f"SPEC 2 wants the module ({module!r}): tolerated"),
                      stacklevel=1)


def _load_stage(run: PluginRun) -> tuple[str, VCSError] | None:
    try:
        run.plugin()
    except IncompatiblePlugin as exc:
        raise CheckSkipped(exc.message) from None
    except (EnvBuildError, SandboxUnavailable) as exc:
        return ("install", exc)
    except ManifestError as exc:
        return ("install", exc)
    except PluginLoadError as exc:
        stage = str(exc.details.get("stage", "import"))
        return ("register" if stage in ("register", "hooks") else "import", exc)
    except (PluginTimeout, PluginCrashed, ResourceLimitExceeded) as exc:
        return ("import", exc)
    except VCSError as exc:
        return ("import", exc)
    return None


def _fail_load(expected: str, exc: VCSError, run: PluginRun) -> CheckFailed:
    return CheckFailed(expected, f"[{exc.code}] {exc.message}" +
                       (f"\n  how to fix: {exc.hint}" if exc.hint else ""),
                       log_tail=str(exc.details.get("log_tail", "")))


@check("package-install")
def package_install(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    stage = _load_stage(run)
    if stage and stage[0] == "install":
        raise _fail_load("the plugin installed into a fresh isolated env with its locked "
                         "versions and dependencies", stage[1], run)


@check("register-import")
def register_import(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    stage = _load_stage(run)
    if stage and stage[0] == "import":
        raise _fail_load("the entry module to import inside the sandbox in time", stage[1],
                         run)


@check("register-hooks")
def register_hooks(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    stage = _load_stage(run)
    if stage:
        raise _fail_load("register(registry) to return a dict of known hooks (init, "
                         "preprocess, train, synthesize), callables of the right arity",
                         stage[1], run)
    hooks = run.plugin().hooks
    if not set(hooks) & {"preprocess", "train", "synthesize"}:
        raise CheckFailed("at least one of preprocess, train, synthesize",
                          f"only {sorted(hooks)}")


# -- hooks -----------------------------------------------------------------------

def _must_accept(run: PluginRun, hook: str, *args: Any, **kw: Any) -> Any:
    verdict, value = run.call(hook, *args, **kw)
    if verdict != "ok":
        raise CheckFailed(f"{hook} to accept valid input",
                          f"ValueError: {value.message}", example=list(args), hook=hook,
                          log_tail=_log(run), details={"call": run.last_call})
    return value


def _must_reject(run: PluginRun, hook: str, why: str, *args: Any) -> None:
    verdict, value = run.call(hook, *args)
    if verdict == "ok":
        raise CheckFailed(f"{hook} to raise ValueError for invalid input ({why})",
                          f"it returned {_show(value)}",
                          example=list(args), hook=hook, log_tail=_log(run),
                          details={"call": run.last_call})


def _log(run: PluginRun) -> str:
    try:
        return str(run.plugin().log_tail())
    except Exception:
        return ""


@check("init-config")
def init_config(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    assert run.manifest is not None
    schema = run.manifest.config_schema
    if schema is None:
        _must_accept(run, "init", {})
        result.examples += 1
        return
    _examples(run, spec, result, pay.configs(schema),
              lambda cfg: _must_accept(run, "init", cfg))
    _examples(run, spec, result, pay.invalid_configs(schema),
              lambda inv: _must_reject(run, "init", inv.why, *inv.args))
    if _accepts_empty(schema):
        _must_accept(run, "init", {})


def _accepts_empty(schema: Any) -> bool:
    from jsonschema import Draft202012Validator

    return bool(Draft202012Validator(dict(schema)).is_valid({}))


def _new_dataset(run: PluginRun, rows: list[Any]) -> str:
    return write_dataset(run.workspace, f"ds{next(_names):05d}", rows)


@check("preprocess-valid")
def preprocess_valid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        rel = _new_dataset(run, rows)
        got = _must_accept(run, "preprocess", rel)
        want = expected_dataset(run.workspace, rel)
        got_ids = [item.get("id") for item in got["items"]]
        want_ids = [item["id"] for item in want["items"]]
        if got_ids != want_ids:
            raise CheckFailed("one item per metadata row, in order: " + repr(want_ids),
                              repr(got_ids), example=rel, hook="preprocess",
                              details={"call": run.last_call})
        for item, ref in zip(got["items"], want["items"], strict=True):
            if "duration_s" not in item:
                continue  # cores before API 1.2 have no duration_s (SPEC 1)
            info = read_info(run.workspace.root / item["audio"])
            if abs(info.duration_s - float(item["duration_s"])) > 0.010:
                raise CheckFailed(f"duration_s within 10 ms of {item['audio']}'s "
                                  f"{info.duration_s:.4f}s", repr(item["duration_s"]),
                                  example=rel, hook="preprocess",
                                  details={"call": run.last_call})
            del ref
    _examples(run, spec, result, pay.dataset_rows(), body)


@check("preprocess-invalid")
def preprocess_invalid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    for variant, make in sorted(BROKEN_DATASET_VARIANTS.items()):
        rel = make(run.workspace, f"broken-{variant}-{next(_names):05d}")
        _must_reject(run, "preprocess", f"broken dataset: {variant}", rel)
        result.examples += 1


def _valid_dataset(run: PluginRun, rows: list[Any]) -> dict[str, Any]:
    """A valid Dataset in the shape the core under test sends."""
    from ._shimcheck import downgrade_dataset

    return downgrade_dataset(expected_dataset(run.workspace, _new_dataset(run, rows)),
                             _api(run))


def _check_progress(events: list[tuple[float, str]], *, finished: bool,
                    example: Any, run: PluginRun) -> None:
    last = -1.0
    for index, (percent, status) in enumerate(events):
        where = f"event {index} ({percent!r}, {status!r})"
        if not 0 <= percent <= 100:
            raise CheckFailed("progress percent in [0, 100]", where, example=example,
                              hook="train", details={"call": run.last_call})
        if percent < last:
            raise CheckFailed("non-decreasing progress", f"{where} after {last}",
                              example=example, hook="train", details={"call": run.last_call})
        if not isinstance(status, str) or not status or len(status) > 200:
            raise CheckFailed("a status of 1-200 characters", where, example=example,
                              hook="train", details={"call": run.last_call})
        last = percent
    if finished and (not events or events[-1][0] != 100):
        raise CheckFailed("the last progress event of a successful train at 100",
                          f"{events[-1] if events else 'no events'}", example=example,
                          hook="train", details={"call": run.last_call})


def _train(run: PluginRun, dataset: Any, plugin: Any = None) -> tuple[str, Any,
                                                                       list[tuple[float, str]]]:
    events: list[tuple[float, str]] = []

    def on_progress(percent: float, status: str = "running") -> None:
        events.append((percent, status))

    verdict, value = run.call("train", dataset, plugin=plugin, on_progress=on_progress)
    return verdict, value, events


@check("train-progress")
def train_progress(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        dataset = _valid_dataset(run, rows)
        verdict, _value, events = _train(run, dataset)
        # A rejected valid dataset is train-valid's finding; progress is judged on
        # the events so far, without the "ends at 100" rule.
        _check_progress(events, finished=verdict == "ok", example=dataset, run=run)
    _examples(run, spec, result, pay.dataset_rows(max_rows=3), body)


@check("train-valid")
def train_valid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        dataset = _valid_dataset(run, rows)
        verdict, value, _ = _train(run, dataset)
        if verdict != "ok":
            raise CheckFailed("train to accept a valid Dataset", f"ValueError: {value.message}",
                              example=dataset, hook="train", log_tail=_log(run),
                              details={"call": run.last_call})
    _examples(run, spec, result, pay.dataset_rows(max_rows=3), body)


@check("train-invalid")
def train_invalid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    from hypothesis import strategies as st

    base = _valid_dataset(run, [pay.DatasetRow("a1", "Hello there."),
                                pay.DatasetRow("a2", "General Kenobi.")])
    _examples(run, spec, result, st.deferred(lambda: pay.invalid_datasets(base, _api(run))),
              lambda inv: _must_reject(run, "train", inv.why, *inv.args))


@check("synthesize-valid")
def synthesize_valid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    from hypothesis import strategies as st

    assert run.manifest is not None
    m = run.manifest
    configs = pay.voice_configs(_api(run), voices=m.voices, sample_rates=m.sample_rates)
    edges: list[tuple[str, dict[str, Any]]] = [(t, {}) for t in pay.EDGE_TEXTS] + [
        ("Hello world.", c) for c in pay.edge_voice_configs(m.voices, m.sample_rates)]
    _examples(run, spec, result, st.tuples(pay.TEXTS, configs),
              lambda tc: _must_accept(run, "synthesize", *tc), edges=edges)


@check("synthesize-invalid")
def synthesize_invalid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    assert run.manifest is not None
    m = run.manifest
    api = _api(run)
    _examples(run, spec, result,
              pay.invalid_synthesize(api, voices=m.voices, sample_rates=m.sample_rates),
              lambda inv: _must_reject(run, "synthesize", inv.why, *inv.args),
              edges=pay.edge_invalid_synthesize(api, voices=m.voices,
                                                sample_rates=m.sample_rates))


@check("lifecycle-pipeline")
def lifecycle_pipeline(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    hooks = run.plugin().hooks
    rows = [pay.DatasetRow(f"utt{i}", text, sample_rate=22050, duration_s=0.6, f0_hz=110 + i)
            for i, text in enumerate(["The first sentence.", "A second one, longer.",
                                      "And the third?"])]
    rel = _new_dataset(run, rows)
    dataset = (_must_accept(run, "preprocess", rel) if "preprocess" in hooks
               else expected_dataset(run.workspace, rel))
    model = None
    if "train" in hooks:
        verdict, value, events = _train(run, dataset)
        if verdict != "ok":
            raise CheckFailed("train to accept the Dataset preprocess returned",
                              f"ValueError: {value.message}", example=dataset, hook="train",
                              log_tail=_log(run), details={"call": run.last_call})
        _check_progress(events, finished=True, example=dataset, run=run)
        model = value["model"]
    if "synthesize" in hooks:
        config = {"model": model} if model else {}
        _must_accept(run, "synthesize", "Speaking with the trained voice.", config)
    result.examples += 1


@check("hygiene")
def hygiene(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    hooks = run.plugin().hooks
    if "synthesize" in hooks:
        run.call("synthesize", "Hygiene probe.", {})
    if "preprocess" in hooks:
        run.call("preprocess", _new_dataset(run, [pay.DatasetRow("h1", "Probe.")]))
    result.examples += 1
    if run.hygiene:
        raise CheckFailed("no process left behind and no write outside cache/, models/, "
                          "outputs/", "\n  ".join(["", *run.hygiene[:20]]),
                          log_tail=_log(run))


CHECKS["shim-equivalence"] = shim_equivalence
