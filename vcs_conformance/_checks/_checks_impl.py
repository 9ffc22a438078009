"""The checks of SPEC section 7, one function per stable id.

Each takes the :class:`~._runner.PluginRun`, its catalogue entry and a
result to count examples in; it returns on a pass, raises ``CheckFailed``
with the evidence, or ``CheckSkipped`` with the reason.
"""

from __future__ import annotations

import contextlib
import math
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
                 database_key=run.database_key(spec.id),
                 plugin_clock=lambda: run.plugin_seconds)


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
        if stage == "discover":
            return ("discover", exc)
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
    env = getattr(run._plugin, "env", None)
    if env is not None and env.kind != "isolated":
        unmet = _unmet_requirements(run)
        if unmet:
            raise CheckFailed("the plugin's dependencies met by this interpreter "
                              "(--vcs-env=current installs nothing)", "; ".join(unmet),
                              example=list(run.manifest.python_dependencies)
                              if run.manifest else None)


def _unmet_requirements(run: PluginRun) -> list[str]:
    """Requirements of the wheel and the manifest that this interpreter does not satisfy."""
    from importlib import metadata
    from zipfile import ZipFile

    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    texts = list(run.manifest.python_dependencies) if run.manifest else []
    with contextlib.suppress(CheckSkipped, OSError, KeyError), ZipFile(built_wheel(run)) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        from email.parser import HeaderParser

        headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8", "replace"))
        texts += headers.get_all("Requires-Dist") or []
    unmet = []
    env = {k: str(v) for k, v in default_environment().items()}
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{text}: not installed")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            unmet.append(f"{text}: {have} is installed")
    return unmet


def _skip_if_undiscovered(check_id: str, stage: tuple[str, VCSError] | None) -> None:
    """The entry point itself is broken: package-entry-point's finding, reported once."""
    if stage and stage[0] == "discover":
        raise CheckSkipped(f"{check_id} needs package-entry-point, which failed: "
                           f"{stage[1].message}")


@check("register-import")
def register_import(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    stage = _load_stage(run)
    _skip_if_undiscovered("register-import", stage)
    if stage and stage[0] == "import":
        raise _fail_load("the entry module to import inside the sandbox in time", stage[1],
                         run)


@check("register-hooks")
def register_hooks(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    stage = _load_stage(run)
    _skip_if_undiscovered("register-hooks", stage)
    if stage:
        raise _fail_load("register(registry) to return a dict of known hooks (init, "
                         "preprocess, train, synthesize), callables of the right arity",
                         stage[1], run)
    hooks = run.plugin().hooks
    if not set(hooks) & {"preprocess", "train", "synthesize"}:
        raise CheckFailed("at least one of preprocess, train, synthesize",
                          f"only {sorted(hooks)}")


# -- hooks -----------------------------------------------------------------------

def _rejection(exc: Any) -> str:
    """``ValueError: message``, said once (the host's message may already say it)."""
    message = str(getattr(exc, "message", exc))
    kind = str(getattr(exc, "remote_type", "ValueError"))
    return message if message.startswith(kind) else f"{kind}: {message}"


def _must_accept(run: PluginRun, hook: str, *args: Any, **kw: Any) -> Any:
    verdict, value = run.call(hook, *args, **kw)
    if verdict != "ok":
        raise CheckFailed(f"{hook} to accept valid input",
                          _rejection(value), example=list(args), hook=hook,
                          log_tail=_log(run), details={"call": run.last_call})
    return value


def _must_reject(run: PluginRun, hook: str, why: str, *args: Any) -> None:
    # The rule travels with the failure, so a replay bundle judges its call the same way.
    rule = {"expect": "reject", "why": why}
    try:
        verdict, value = run.call(hook, *args)
    except CheckFailed as exc:
        exc.details.setdefault("rule", rule)
        raise
    if verdict == "ok":
        raise CheckFailed(f"{hook} to raise ValueError for invalid input ({why})",
                          f"it returned {_show(value)}",
                          example=list(args), hook=hook, log_tail=_log(run),
                          details={"call": run.last_call, "rule": rule})


def _log(run: PluginRun) -> str:
    try:
        return run.log_tail(run.plugin())
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


#: One small, plain dataset tried first: a defect that shows on every input fails at
#: once, instead of after shrinking generated datasets with real audio.
_EDGE_ROWS = [[pay.DatasetRow("edge1", "Hello world.", sample_rate=22050, duration_s=0.3),
               pay.DatasetRow("edge2", "A second, longer sentence.", sample_rate=22050,
                              duration_s=0.4)]]


def _new_dataset(run: PluginRun, rows: list[Any]) -> str:
    return write_dataset(run.workspace, f"ds{next(_names):05d}", rows)


@check("preprocess-valid")
def preprocess_valid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        rel = _new_dataset(run, rows)
        judge_preprocessed(run, rel, _must_accept(run, "preprocess", rel))
    _examples(run, spec, result, pay.dataset_rows(), body, edges=_EDGE_ROWS)


def judge_preprocessed(run: PluginRun, rel: str, got: Any) -> None:
    """preprocess-valid's comparison of a returned Dataset with the one the files imply.

    Shared with replay (``_replay``), so a replayed call is judged by the very rule
    that failed it, not just "it returned".
    """
    want = expected_dataset(run.workspace, rel)
    got_ids = [item.get("id") for item in got["items"]]
    want_ids = [item["id"] for item in want["items"]]
    if got_ids != want_ids:
        raise CheckFailed("one item per metadata row, in order: " + repr(want_ids),
                          repr(got_ids), example=rel, hook="preprocess", log_tail=_log(run),
                          details={"call": run.last_call, "expected_result": want})
    for item in got["items"]:
        if "duration_s" not in item:
            continue  # cores before API 1.2 have no duration_s (SPEC 1)
        info = read_info(run.workspace.root / item["audio"])
        if abs(info.duration_s - float(item["duration_s"])) > 0.010:
            raise CheckFailed(f"duration_s within 10 ms of {item['audio']}'s "
                              f"{info.duration_s:.4f}s", repr(item["duration_s"]),
                              example=rel, hook="preprocess", log_tail=_log(run),
                              details={"call": run.last_call, "expected_result": want})


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
        if isinstance(percent, bool) or not isinstance(percent, int | float) \
                or not math.isfinite(percent):
            raise CheckFailed("progress percent a finite number", where, example=example,
                              hook="train", details={"call": run.last_call})
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
    """``("ok" | "rejected" | "broken", value or error, progress events)``.

    "broken" (the call crashed, hung or returned an invalid Model) is
    train-valid's finding; train-progress judges the events it saw anyway.
    """
    events: list[tuple[float, str]] = []

    def on_progress(percent: float, status: str = "running") -> None:
        events.append((percent, status))

    try:
        verdict, value = run.call("train", dataset, plugin=plugin, on_progress=on_progress)
    except CheckFailed as exc:
        return "broken", exc, events
    return verdict, value, events


@check("train-progress")
def train_progress(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        dataset = _valid_dataset(run, rows)
        verdict, _value, events = _train(run, dataset)
        # A rejected or broken call is train-valid's finding; progress is judged
        # on the events so far, without the "ends at 100" rule.
        _check_progress(events, finished=verdict == "ok", example=dataset, run=run)
    _examples(run, spec, result, pay.dataset_rows(max_rows=3), body, edges=_EDGE_ROWS)


@check("train-valid")
def train_valid(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    def body(rows: list[Any]) -> None:
        dataset = _valid_dataset(run, rows)
        verdict, value, _ = _train(run, dataset)
        if verdict == "broken":
            raise value
        if verdict != "ok":
            raise CheckFailed("train to accept a valid Dataset", _rejection(value),
                              example=dataset, hook="train", log_tail=_log(run),
                              details={"call": run.last_call})
    _examples(run, spec, result, pay.dataset_rows(max_rows=3), body, edges=_EDGE_ROWS)


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
        verdict, value, _events = _train(run, dataset)
        if verdict == "broken":
            raise value
        if verdict != "ok":
            raise CheckFailed("train to accept the Dataset preprocess returned",
                              _rejection(value), example=dataset, hook="train",
                              log_tail=_log(run), details={"call": run.last_call})
        model = value["model"]
    if "synthesize" in hooks:
        config = {"model": model} if model else {}
        _must_accept(run, "synthesize", "Speaking with the trained voice.", config)
    result.examples += 1


@check("hygiene")
def hygiene(run: PluginRun, spec: CheckSpec, result: CheckResult) -> None:
    hooks = run.plugin().hooks
    # The probes only give the plugin a chance to misbehave; what they return is
    # the other checks' business (an invalid output is not a hygiene defect).
    if "synthesize" in hooks:
        with contextlib.suppress(CheckFailed):
            run.call("synthesize", "Hygiene probe.", {})
    if "preprocess" in hooks:
        with contextlib.suppress(CheckFailed):
            run.call("preprocess", _new_dataset(run, [pay.DatasetRow("h1", "Probe.")]))
    if "train" in hooks:
        with contextlib.suppress(CheckFailed):
            _train(run, _valid_dataset(run, [pay.DatasetRow("h2", "Probe.")]))
    result.examples += 1
    judge_hygiene(run)


def judge_hygiene(run: PluginRun) -> None:
    """Fail on the hygiene evidence gathered so far (shared with replay).

    The call the bundle records is the first one that left evidence, not the
    last probe: replaying that call and judging the evidence again reproduces it.
    """
    if run.hygiene:
        first = run.hygiene_calls[0] if run.hygiene_calls else None
        raise CheckFailed("no process left behind, no write outside cache/, models/, "
                          "outputs/, no value that is not strict JSON",
                          "\n  ".join(["", *run.hygiene[:20]]),
                          example=first["args"] if first else None,
                          hook=first["hook"] if first else None, log_tail=_log(run),
                          details={"call": first} if first else {})


CHECKS["shim-equivalence"] = shim_equivalence
