"""``shim-equivalence``: the differential check of the shim chain.

The same generated payloads go to the plugin on its native core and,
through the chain, on the core under test.  The core-side payload is made
from the native one by SPEC 1's table read *forwards* (``speed`` becomes
``rate``, items gain ``duration_s`` from their WAV), and the native result
is brought to the core's shape the same way (a 1.0 path becomes a Result,
1.1 Dataset items gain ``duration_s``, a 1.0 progress event gains the
status ``"running"``), independently of the shim code, so a shim that
mistranslates cannot agree with itself.

Per hook, what must agree: the verdict (a result, ``ValueError``, or a
defect), and for a result its shape (keys and value types), then

- ``synthesize``: rate and length (10 ms), of the Result and of the WAV;
- ``preprocess``: ids, texts, rate and each WAV's ``duration_s`` (10 ms);
- ``train``: the Model's path under ``models/`` and the progress sequence
  (percentages, then statuses).

Every difference names the hook, the payload (both shapes) and both results.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import hypothesis.strategies as st

from .. import schemas
from ..compat import parse_api
from ..wav import read_info
from ..workspace import BROKEN_DATASET_VARIANTS, DatasetRow, expected_dataset, write_dataset
from . import _payloads as pay
from ._hypo import run_examples
from ._outcome import CheckFailed, CheckResult, CheckSkipped

__all__ = ["compare", "core_only_fault", "downgrade_dataset", "native_to_core", "shape",
           "shim_equivalence", "upgrade_voice_config"]

_names = itertools.count(1)
#: SPEC 7: lengths agree within 10 ms.
TOLERANCE_S = 0.010
#: Characters of one result shown in a failure (each side); the payload has its own cap.
SHOW_LIMIT = 700
#: The status a core of API >= 1.1 sees for a 1.0 plugin's progress (SPEC 1).
STATUS_10 = "running"


# -- SPEC 1's table read forwards (payloads) and backwards (what older cores send) ------------

def upgrade_voice_config(config: dict[str, Any], plugin_api: str,
                         core_api: str) -> dict[str, Any]:
    """A voice_config of ``plugin_api`` as a core of ``core_api`` would send it.

    Why not the shim's own code: the check must hold the shim to SPEC 1, so
    the expected core payload is derived from the table, not from the step.
    A stray ``rate`` in an old config is an unknown key there and is left.
    """
    out = dict(config)
    if parse_api(plugin_api) < (1, 2) <= parse_api(core_api) and "speed" in out:
        out["rate"] = out.pop("speed")
    return out


_T = TypeVar("_T")


def downgrade_dataset(dataset: _T, plugin_api: str) -> _T:
    """A 1.2 Dataset as a core of API ``plugin_api`` would send it (no ``duration_s``).

    Shapes it does not recognise (not an object, ``items`` not a list, an
    item that is not an object) pass through unchanged: invalid Datasets are
    payloads too, and the plugin must see the same fault the core holds.
    """
    if parse_api(plugin_api) >= (1, 2) or not isinstance(dataset, dict) \
            or not isinstance(dataset.get("items"), list):
        return dataset
    items = [{k: v for k, v in item.items() if k != "duration_s"} if isinstance(item, dict)
             else item for item in dataset["items"]]
    return cast(_T, {**dataset, "items": items})


def _valid_duration(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and value >= 0)


def core_only_fault(dataset: Any, plugin_api: str, core_api: str) -> str | None:
    """Why ``dataset`` is invalid only in a field the plugin's API lacks, else None.

    ``duration_s`` is required from API 1.2 on (SPEC 1): a 1.2 core rejects
    an item without it, a 1.1 plugin cannot notice, so the shim must refuse
    on the core's behalf.  For such a payload the native verdict, in the
    core's terms, is ``ValueError`` whatever the plugin would do with the
    downgraded copy.
    """
    if not parse_api(plugin_api) < (1, 2) <= parse_api(core_api) \
            or not isinstance(dataset, dict) or not isinstance(dataset.get("items"), list):
        return None
    for index, item in enumerate(dataset["items"]):
        if isinstance(item, dict) and not _valid_duration(item.get("duration_s")):
            return (f"items[{index}].duration_s is required by API {core_api} (SPEC 1), which "
                    f"the plugin's API {plugin_api} cannot carry: the shim must refuse it")
    return None


def native_to_core(hook: str, value: Any, plugin_api: str, core_api: str, run: Any) -> Any:
    """A native result of ``plugin_api`` in the shape a core of ``core_api`` sees (SPEC 1).

    Read right after the native call (a WAV's header), so a plugin that
    reuses an output file name cannot make the check compare a WAV with itself.
    """
    older = parse_api(plugin_api)
    newer = parse_api(core_api)
    if hook == "synthesize" and older < (1, 1) <= newer and isinstance(value, str):
        info = read_info(run.workspace.root / value)
        return {"audio": value, "sample_rate": info.sample_rate, "duration_s": info.duration_s}
    if hook == "preprocess" and older < (1, 2) <= newer and isinstance(value, dict) \
            and isinstance(value.get("items"), list):
        items = []
        for item in value["items"]:
            if isinstance(item, dict) and "duration_s" not in item \
                    and isinstance(item.get("audio"), str):
                seconds = read_info(run.workspace.root / item["audio"]).duration_s
                items.append({**item, "duration_s": seconds})
            else:
                items.append(item)
        return {**value, "items": items}
    return value


# -- one side of a comparison ---------------------------------------------------------------

@dataclass
class Side:
    """What one call gave, in the core's shape, with the facts read right after it."""

    verdict: str  # ok | rejected | defect
    value: Any = None
    #: For ``synthesize``: the WAV header's (rate, seconds), read before the other call.
    header: tuple[int, float] | None = None
    events: list[tuple[Any, ...]] = field(default_factory=list)
    note: str = ""
    #: False when SPEC 1 alone decides the native verdict (no native call was made).
    called: bool = True
    #: The defect itself, re-raised when both sides broke (nothing was compared).
    error: CheckFailed | None = None

    def show(self) -> str:
        if self.verdict == "ok":
            text = "returned " + _json(self.value)
            if self.header is not None:
                text += f" (WAV header: {self.header[0]} Hz, {self.header[1]:.4f} s)"
        elif self.verdict == "rejected":
            text = "raised " + self.note
        else:
            text = "broke the contract: " + self.note
        if self.events:
            text += "; progress " + _json([list(e) for e in self.events])
        return _cap(text)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _cap(text: str, limit: int = SHOW_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _rejection(exc: Any) -> str:
    message = str(getattr(exc, "message", exc))
    kind = str(getattr(exc, "remote_type", "ValueError"))
    raised_by = (getattr(exc, "details", None) or {}).get("raised_by")
    text = message if message.startswith(kind) else f"{kind}: {message}"
    return text + (f" [{raised_by}]" if raised_by else "")


def _side(run: Any, plugin: Any, hook: str, args: list[Any], translate: Any) -> Side:
    """Call ``hook`` once; a defect (a crash, an invalid result) is an outcome too.

    Why: a shim that breaks the result makes the host reject the shimmed call
    while the native one passes, and that difference must be reported as one,
    with both results, not as a bare defect of one side.
    """
    events: list[tuple[Any, ...]] = []
    kw: dict[str, Any] = {}
    if hook == "train":
        kw["on_progress"] = lambda *a: events.append(tuple(a))
    try:
        verdict, value = run.call(hook, *args, plugin=plugin, **kw)
    except CheckFailed as exc:
        return Side("defect", note=exc.seen.splitlines()[0] if exc.seen else exc.expected,
                    events=events, error=exc)
    if verdict != "ok":
        return Side("rejected", note=_rejection(value), events=events)
    value = translate(value)
    header = None
    if hook == "synthesize" and isinstance(value, dict) and isinstance(value.get("audio"), str):
        info = read_info(run.workspace.root / value["audio"])
        header = (info.sample_rate, info.duration_s)
    return Side("ok", value, header, events)


# -- comparing --------------------------------------------------------------------------------

def _kind(value: Any, *, numbers: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "number" if numbers else "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def shape(value: Any, *, numbers: bool = False) -> Any:
    """Keys and value types of a result, recursively (``{"sample_rate": "integer", ...}``).

    Integers and floats are told apart (a shim that turns ``sample_rate``
    into ``16000.0`` changes the shape), except under ``metrics``, whose
    values are the plugin's measurements, numbers of either kind.
    """
    if isinstance(value, dict):
        return {k: shape(v, numbers=numbers or k == "metrics") for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v, numbers=numbers) for v in value]
    return _kind(value, numbers=numbers)


def _seconds_apart(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) > TOLERANCE_S
    except (TypeError, ValueError):
        return bool(a != b)


def _difference(hook: str, native: Side, shimmed: Side) -> str | None:
    """What differs between the two sides (a short noun phrase), or None."""
    if native.verdict != shimmed.verdict:
        return "verdict (result, ValueError or defect)"
    if native.verdict == "ok":
        what = {"synthesize": "Result", "preprocess": "Dataset", "train": "Model"}[hook]
        if shape(native.value) != shape(shimmed.value):
            return f"{what} shape (keys and value types)"
        a, b = native.value, shimmed.value
        if hook == "synthesize" and isinstance(a, dict) and isinstance(b, dict) \
                and _result_differs(a, b, native.header, shimmed.header):
            return "Result (rate, seconds)"
        if hook == "preprocess" and isinstance(a, dict) and isinstance(b, dict):
            return _dataset_difference(a, b)
        if hook == "train" and isinstance(a, dict) and isinstance(b, dict):
            under = [str(m.get("model", "")).startswith("models/") for m in (a, b)]
            if not all(under):
                return "Model (model path under models/)"
    if not native.called:
        return None  # no native call was made: there are no native events to compare
    if [e[:1] for e in native.events] != [e[:1] for e in shimmed.events]:
        return "progress sequence"
    if native.events != shimmed.events:
        return "progress statuses"
    return None


def _result_differs(a: dict[str, Any], b: dict[str, Any], head_a: tuple[int, float] | None,
                    head_b: tuple[int, float] | None) -> bool:
    """Rates differ, or lengths by more than 10 ms: of the Results, or of their WAVs."""
    if a.get("sample_rate") != b.get("sample_rate") \
            or _seconds_apart(a.get("duration_s"), b.get("duration_s")):
        return True
    if head_a is None or head_b is None:
        return False
    return head_a[0] != head_b[0] or _seconds_apart(head_a[1], head_b[1])


def _dataset_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if a.get("sample_rate") != b.get("sample_rate"):
        return "Dataset sample_rate"
    # Not ``audio``: SPEC 5 asks for an existing WAV, not a particular path (a plugin
    # may write fresh copies each call); the files are compared by duration below.
    for key in ("id", "text"):
        if [i.get(key) for i in a["items"]] != [i.get(key) for i in b["items"]]:
            return f"Dataset items ({key})"
    for x, y in zip(a["items"], b["items"], strict=False):
        if _seconds_apart(x.get("duration_s"), y.get("duration_s")):
            return "Dataset items (duration_s within 10 ms)"
    return None


def compare(run: Any, native: Any, shimmed: Any, hook: str, native_args: list[Any],
            core_args: list[Any]) -> None:
    """One payload natively and through the chain; ``CheckFailed`` when they disagree.

    Used by the check and by its replay, so a bundle reproduces the verdict.
    The native call runs first and its facts are read before the shimmed one.
    """
    api = run.manifest.api_version
    core_api = "{}.{}".format(*parse_api(run.core_version))
    fault = core_only_fault(core_args[0], api, core_api) if hook == "train" else None
    if fault is not None:
        side_n = Side("rejected", note=f"ValueError, by SPEC 1 (not called): {fault}",
                      called=False)
    else:
        side_n = _side(run, native, hook, native_args,
                       lambda v: native_to_core(hook, v, api, core_api, run))
        side_n.events = [(e[0], STATUS_10) if len(e) == 1 else e for e in side_n.events]
    side_s = _side(run, shimmed, hook, core_args, lambda v: v)
    if side_n.error is not None and side_s.error is not None:
        # The plugin breaks on this payload either way: a defect of the plugin, not a
        # difference, but nothing was compared, so the check cannot pass on it.  The
        # record is the pair, so the bundle replays both calls.
        side_n.error.details["call"] = {"hook": hook, "args": core_args,
                                        "native_args": native_args}
        raise side_n.error
    what = _difference(hook, side_n, side_s)
    if what is None:
        return
    chain = " -> ".join(run.decision.chain)
    example: Any = core_args if native_args == core_args else \
        {"through the chain": core_args, "natively": native_args}
    raise CheckFailed(
        f"the same {what} natively (core of API {api}) and through the chain {chain}",
        f"{hook}: native {side_n.show()}\n    through the chain {side_s.show()}",
        example=example, hook=hook,
        details={"call": {"hook": hook, "args": core_args, "native_args": native_args},
                 "native": side_n.show(), "shimmed": side_s.show()})


# -- the check --------------------------------------------------------------------------------

#: A small plain dataset every run meets (edges): a defect on every input fails at once.
EDGE_ROWS = [DatasetRow("edge1", "Hello world.", sample_rate=22050, duration_s=0.3),
             DatasetRow("edge2", "A second, longer sentence.", sample_rate=22050,
                        duration_s=0.4)]


def _strategies(run: Any, hooks: set[str], api: str) -> list[st.SearchStrategy[Any]]:
    m = run.manifest
    options: list[st.SearchStrategy[Any]] = []
    if "synthesize" in hooks:
        options.append(st.tuples(st.just("synthesize"), pay.TEXTS,
                                 pay.voice_configs(api, voices=m.voices,
                                                   sample_rates=m.sample_rates)))
        options.append(st.tuples(st.just("synthesize-invalid"),
                                 pay.invalid_synthesize(api, voices=m.voices,
                                                        sample_rates=m.sample_rates)))
    if "preprocess" in hooks:
        options.append(st.tuples(st.just("preprocess"), pay.dataset_rows(max_rows=2)))
        options.append(st.tuples(st.just("preprocess-broken"),
                                 st.sampled_from(sorted(BROKEN_DATASET_VARIANTS))))
    if "train" in hooks:
        options.append(st.tuples(st.just("train"), pay.dataset_rows(max_rows=2)))
        options.append(st.tuples(st.just("train-invalid"), pay.dataset_rows(max_rows=2),
                                 st.data()))
    return options


def _edges(run: Any, hooks: set[str], api: str, core_api: str) -> list[tuple[Any, ...]]:
    """Cases every run meets, whatever the draws: one per hook, and the shim's refusal."""
    edges: list[tuple[Any, ...]] = []
    if "synthesize" in hooks:
        edges += _numeric_edges(api)
    if "preprocess" in hooks:
        edges += [("preprocess", EDGE_ROWS), ("preprocess-broken", "missing-wav")]
    if "train" in hooks:
        edges.append(("train", EDGE_ROWS))
        if parse_api(api) < (1, 2) <= parse_api(core_api):
            edges.append(("train-refused", EDGE_ROWS))
    return edges


def shim_equivalence(run: Any, spec: Any, result: CheckResult) -> None:
    if not run.shimmed:
        raise CheckSkipped("no shim chain serves this plugin on this core")
    api = run.manifest.api_version
    core_api = "{}.{}".format(*parse_api(run.core_version))
    native = run.native_plugin()
    shimmed = run.plugin()
    hooks = set(shimmed.hooks)
    options = _strategies(run, hooks, api)
    if not options:
        raise CheckSkipped("the plugin has none of synthesize, preprocess, train: nothing the "
                           "shims translate")

    def dataset(rows: list[DatasetRow]) -> tuple[str, dict[str, Any]]:
        rel = write_dataset(run.workspace, f"shim{next(_names):05d}", rows)
        return rel, expected_dataset(run.workspace, rel)

    def train(core_ds: Any) -> None:
        compare(run, native, shimmed, "train", [downgrade_dataset(core_ds, api)], [core_ds])

    def body(case: tuple[Any, ...]) -> None:
        kind = case[0]
        if kind in ("synthesize", "synthesize-invalid"):
            text, config = (case[1], case[2]) if kind == "synthesize" else case[1].args
            compare(run, native, shimmed, "synthesize", [text, config],
                    [text, upgrade_voice_config(config, api, core_api)])
        elif kind == "preprocess":
            rel = dataset(case[1])[0]
            compare(run, native, shimmed, "preprocess", [rel], [rel])
        elif kind == "preprocess-broken":
            rel = BROKEN_DATASET_VARIANTS[case[1]](run.workspace,
                                                   f"shim-broken{next(_names):05d}")
            compare(run, native, shimmed, "preprocess", [rel], [rel])
        elif kind == "train":
            train(downgrade_dataset(dataset(case[1])[1], core_api))
        elif kind == "train-refused":  # the shim's own refusal (SPEC 1), met every run
            core_ds = dataset(case[1])[1]
            core_ds["items"][0].pop("duration_s")
            train(core_ds)
        else:  # train-invalid: SPEC 5's invalid Datasets, in the core's shape
            core_ds = downgrade_dataset(dataset(case[1])[1], core_api)
            train(case[2].draw(pay.invalid_datasets(core_ds, core_api)).args[0])

    s = run.settings
    run_examples(profile=s.profile, examples=s.examples_for(None), seed=s.seed, result=result,
                 strategy=st.one_of(options), body=body,
                 edges=_edges(run, hooks, api, core_api),
                 database_key=f"vcs-{run.name}-shim-equivalence",
                 plugin_clock=lambda: run.plugin_seconds)


def _numeric_edges(api: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Each bounded number of the plugin's ``voice_config`` at its bounds, on a sentence.

    Why: what shims translate in a voice config are its numbers (``speed``
    became ``rate``), and a mistranslation shows only when the value is far
    from its default; a derandomized run must meet such a case every time,
    not by luck.  A short sentence, because engines cap how long they speak
    (a long text at both speeds can end at the same cap).
    """
    schema = schemas.inline_refs(schemas.load_schema("voice_config", api),
                                 schemas.schema_uri("voice_config", api))
    edges = []
    for key, prop in schema.get("properties", {}).items():
        if isinstance(prop, dict) and prop.get("type") == "number":
            for bound in ("minimum", "maximum"):
                if isinstance(prop.get(bound), int | float):
                    edges.append(("synthesize", pay.EDGE_TEXTS[0], {key: prop[bound]}))
    return edges
