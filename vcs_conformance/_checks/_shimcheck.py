"""``shim-equivalence``: the differential check of the shim chain.

The same generated payloads go to the plugin on its native core and,
through the chain, on the core under test.  The core-side payload is made
from the native one by SPEC 1's table read *forwards* (``speed`` becomes
``rate``, items gain ``duration_s`` from their WAV), independently of the
shim code, so a shim that mistranslates cannot agree with itself.  Verdicts
(``ValueError`` or not), Result shape, rate and length (10 ms) and the
progress sequence must agree.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st

from .. import schemas
from ..compat import parse_api
from ..wav import read_info
from ..workspace import expected_dataset, write_dataset
from . import _payloads as pay
from ._hypo import run_examples
from ._outcome import CheckFailed, CheckResult, CheckSkipped

_counter = [0]


def upgrade_voice_config(config: dict[str, Any], plugin_api: str,
                         core_api: str) -> dict[str, Any]:
    """A voice_config of ``plugin_api`` as a core of ``core_api`` would send it."""
    out = dict(config)
    if parse_api(plugin_api) < (1, 2) <= parse_api(core_api) and "speed" in out:
        out["rate"] = out.pop("speed")
    return out


def downgrade_dataset(dataset: dict[str, Any], plugin_api: str) -> dict[str, Any]:
    """A 1.2 Dataset as a core of API ``plugin_api`` would send it (no ``duration_s``)."""
    if parse_api(plugin_api) >= (1, 2):
        return dataset
    items = [{k: v for k, v in item.items() if k != "duration_s"} for item in dataset["items"]]
    return {**dataset, "items": items}


def _result_facts(run: Any, value: Any) -> tuple[int, float]:
    """(rate, seconds) of a Result of any API version (1.0 returns a bare path)."""
    path = value if isinstance(value, str) else value["audio"]
    info = read_info(run.workspace.root / path)
    if isinstance(value, str):
        return info.sample_rate, info.duration_s
    return int(value["sample_rate"]), float(value["duration_s"])


def compare(run: Any, native: Any, shimmed: Any, hook: str, native_args: list[Any],
            core_args: list[Any]) -> None:
    """One payload natively and through the chain; ``CheckFailed`` when they disagree.

    Used by the check and by its replay, so a bundle reproduces the verdict.
    """
    api = run.manifest.api_version
    call = {"hook": hook, "args": core_args, "native_args": native_args}

    def differ(what: str, a: Any, b: Any) -> CheckFailed:
        return CheckFailed(f"the same {what} natively (core of API {api}) and through the "
                           f"chain {' -> '.join(run.decision.chain)}",
                           f"native: {a!r}\n    through the chain: {b!r}", example=core_args,
                           hook=hook, details={"call": call})

    if hook == "synthesize":
        v1, r1 = run.call("synthesize", *native_args, plugin=native)
        v2, r2 = run.call("synthesize", *core_args, plugin=shimmed)
        if v1 != v2:
            raise differ("verdict", v1, v2)
        if v1 == "ok":
            (rate1, len1), (rate2, len2) = _result_facts(run, r1), _result_facts(run, r2)
            if rate1 != rate2 or abs(len1 - len2) > 0.010:
                raise differ("Result (rate, seconds)", (rate1, len1), (rate2, len2))
        return
    ev1: list[Any] = []
    ev2: list[Any] = []
    v1, _ = run.call("train", *native_args, plugin=native,
                     on_progress=lambda p, s="running": ev1.append((p, s)))
    v2, _ = run.call("train", *core_args, plugin=shimmed,
                     on_progress=lambda p, s="running": ev2.append((p, s)))
    if v1 != v2:
        raise differ("verdict", v1, v2)
    if [p for p, _ in ev1] != [p for p, _ in ev2]:
        raise differ("progress sequence", ev1, ev2)
    if parse_api(api) >= (1, 1) and ev1 != ev2:
        raise differ("progress statuses", ev1, ev2)


def shim_equivalence(run: Any, spec: Any, result: CheckResult) -> None:
    if not run.shimmed:
        raise CheckSkipped("no shim chain serves this plugin on this core")
    m = run.manifest
    api = m.api_version
    core_api = "{}.{}".format(*parse_api(run.core_version))
    native = run.native_plugin()
    shimmed = run.plugin()
    hooks = set(shimmed.hooks)
    options: list[st.SearchStrategy[Any]] = []
    if "synthesize" in hooks:
        options.append(st.tuples(st.just("synthesize"), pay.TEXTS,
                                 pay.voice_configs(api, voices=m.voices,
                                                   sample_rates=m.sample_rates)))
        options.append(st.tuples(st.just("synthesize-invalid"),
                                 pay.invalid_synthesize(api, voices=m.voices,
                                                        sample_rates=m.sample_rates)))
    if "train" in hooks:
        options.append(st.tuples(st.just("train"), pay.dataset_rows(max_rows=2)))
    if not options:
        raise CheckSkipped("the plugin has neither synthesize nor train: nothing the shims "
                           "translate")

    def body(case: tuple[Any, ...]) -> None:
        kind = case[0]
        if kind in ("synthesize", "synthesize-invalid"):
            text, config = (case[1], case[2]) if kind == "synthesize" else case[1].args
            compare(run, native, shimmed, "synthesize", [text, config],
                    [text, upgrade_voice_config(config, api, core_api)])
        else:
            _counter[0] += 1
            rel = write_dataset(run.workspace, f"shim{_counter[0]:05d}", case[1])
            core_ds = downgrade_dataset(expected_dataset(run.workspace, rel), core_api)
            compare(run, native, shimmed, "train", [downgrade_dataset(core_ds, api)], [core_ds])

    edges = _numeric_edges(api) if "synthesize" in hooks else []
    s = run.settings
    run_examples(profile=s.profile, examples=s.examples_for(None), seed=s.seed, result=result,
                 strategy=st.one_of(options), body=body, edges=edges,
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
