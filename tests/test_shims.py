"""Each shim step both ways (arguments down, results and progress up), and the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vcs_conformance import wav
from vcs_conformance._shims import (
    DEFAULT_STEPS,
    ShimChain,
    ShimContext,
    Step10To11,
    Step11To12,
    build_chain,
)
from vcs_conformance.errors import InvalidInputRejected, OutputInvalid
from vcs_conformance.workspace import DatasetRow, Workspace, create_workspace, write_dataset


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return create_workspace(tmp_path / "ws")


@pytest.fixture
def ctx(ws: Workspace) -> ShimContext:
    return ShimContext(ws.root)


def test_10_to_11_wraps_the_path_into_a_result(ws: Workspace, ctx: ShimContext) -> None:
    wav.write_pcm16(ws.outputs / "a.wav", wav.speechlike(0.37, 22050), 22050)
    step = Step10To11()
    result = step.up_result("synthesize", "outputs/a.wav", ctx)
    assert result == {"audio": "outputs/a.wav", "sample_rate": 22050,
                      "duration_s": wav.read_info(ws.outputs / "a.wav").duration_s}
    # other hooks and malformed values pass through for validation to judge
    assert step.up_result("train", {"model": "models/m"}, ctx) == {"model": "models/m"}
    assert step.up_result("synthesize", 42, ctx) == 42
    with pytest.raises(OutputInvalid, match="does not exist"):
        step.up_result("synthesize", "outputs/missing.wav", ctx)


def test_10_to_11_adapts_the_progress_callback_and_leaves_args(ctx: ShimContext) -> None:
    step = Step10To11()
    assert step.up_progress((42.0,)) == (42.0, "running")
    args = ["Hello", {"speed": 2.0}]
    assert step.down_args("synthesize", args, ctx) == args


def test_11_to_12_renames_rate_to_speed_and_hides_a_stray_speed(ctx: ShimContext) -> None:
    step = Step11To12()
    core = {"rate": 1.5, "pitch": 2.0, "x-extra": 1}
    text, config = step.down_args("synthesize", ["Hi", core], ctx)
    assert (text, config) == ("Hi", {"speed": 1.5, "pitch": 2.0, "x-extra": 1})
    assert core == {"rate": 1.5, "pitch": 2.0, "x-extra": 1}  # the caller's dict is untouched
    # ``speed`` is unknown to a 1.2 core (ignored), so it must not reach the 1.1 plugin
    assert step.down_args("synthesize", ["Hi", {"speed": 3.0}], ctx)[1] == {}
    assert step.down_args("synthesize", ["Hi", "not a dict"], ctx) == ["Hi", "not a dict"]
    assert step.up_progress((5.0, "x")) == (5.0, "x")


def test_11_to_12_dataset_down_and_up(ws: Workspace, ctx: ShimContext) -> None:
    rel = write_dataset(ws, "d", [DatasetRow("a", "Hi", sample_rate=8000, duration_s=0.2),
                                  DatasetRow("b", "Yo", sample_rate=8000, duration_s=0.3)])
    items_11 = [{"id": i, "audio": f"{rel}/wavs/{i}.wav", "text": "t"} for i in "ab"]
    up = Step11To12().up_result("preprocess", {"items": items_11, "sample_rate": 8000}, ctx)
    assert [round(i["duration_s"], 3) for i in up["items"]] == [0.2, 0.3]
    down = Step11To12().down_args("train", [up], ctx)[0]
    assert down == {"items": items_11, "sample_rate": 8000}
    broken = {"items": [up["items"][0], {**items_11[1], "duration_s": "long"}],
              "sample_rate": 8000}
    with pytest.raises(InvalidInputRejected, match=r"items\[1\]\.duration_s is 'long'"):
        Step11To12().down_args("train", [broken], ctx)
    # shapes it does not understand pass through unchanged
    assert Step11To12().down_args("train", [{"items": "x"}], ctx) == [{"items": "x"}]


def test_chain_composes_in_both_directions(ws: Workspace, ctx: ShimContext) -> None:
    chain = build_chain(("1.0", "1.1", "1.2"))
    assert chain.versions == ("1.0", "1.1", "1.2")
    assert chain.up_progress((10.0,)) == (10.0, "running")
    assert chain.down_args("synthesize", ["Hi", {"rate": 2.0}], ctx) == ["Hi", {"speed": 2.0}]
    wav.write_pcm16(ws.outputs / "c.wav", wav.speechlike(0.1, 8000), 8000)
    assert chain.up_result("synthesize", "outputs/c.wav", ctx)["sample_rate"] == 8000
    assert build_chain(("1.2",)) == ShimChain()
    with pytest.raises(LookupError, match=r"no shim step from API 1\.2 to 1\.3"):
        build_chain(("1.2", "1.3"))


class ForgetsRate(Step11To12):
    """A deliberately broken step: drops ``rate`` instead of renaming it."""

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        if hook == "synthesize" and isinstance(args[1], dict):
            return [args[0], {k: v for k, v in args[1].items() if k != "rate"}]
        return args


def test_a_broken_step_can_be_injected_into_the_host(make_host: Any, plugin_dir: Any) -> None:
    good = make_host().load(plugin_dir("good-1-1"))
    broken = make_host(shim_steps={("1.1", "1.2"): ForgetsRate()}).load(plugin_dir("good-1-1"))
    text = "A sentence of moderate length."
    assert good.synthesize(text, {"rate": 4.0})["duration_s"] < \
        broken.synthesize(text, {"rate": 4.0})["duration_s"]
    assert isinstance(DEFAULT_STEPS[("1.1", "1.2")], Step11To12)
