"""SPEC section 1's table as composable shim steps (1.0 -> 1.1, 1.1 -> 1.2).

Why steps and not one translator per pair: a core serves plugins up to
``window`` minor versions back, so a 1.0 plugin on core 1.2 goes through
1.0 -> 1.1 -> 1.2.  Each step knows one row group of the table, in both
directions: arguments go *down* (core shape to plugin shape, newest step
first), results and progress events come *up* (oldest step first).  The
chain comes from :attr:`vcs_conformance.compat.Decision.chain`; the host
takes the steps as a parameter so a test (or the ``shim-equivalence``
check's self-test) can inject a deliberately broken one.

Steps never crash on malformed input: what they do not recognise they pass
through unchanged, so the plugin (or the result validation) sees the same
fault the core would have sent or received.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import wav
from ._validate import read_workspace_wav
from .errors import InvalidInputRejected

__all__ = [
    "DEFAULT_STEPS",
    "ShimChain",
    "ShimContext",
    "ShimStep",
    "Step10To11",
    "Step11To12",
    "build_chain",
]


@dataclass(frozen=True)
class ShimContext:
    """What a step may consult: the workspace, read only through the safe walk."""

    workspace: Path
    read_wav: Callable[[str, str], wav.WavInfo] | None = field(default=None, compare=False)

    def wav_info(self, rel: str, pointer: str) -> wav.WavInfo:
        """Header facts of the workspace WAV ``rel``; ``OutputInvalid`` names ``pointer``."""
        if self.read_wav is not None:
            return self.read_wav(rel, pointer)
        return read_workspace_wav(self.workspace, rel, pointer=pointer)[0]


class ShimStep(Protocol):
    """One step between adjacent API versions ``older`` and ``newer``."""

    older: str
    newer: str

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        """Arguments in ``newer`` shape -> ``older`` shape (may reject with ValueError)."""

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        """A return value in ``older`` shape -> ``newer`` shape."""

    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """``progress_cb`` arguments in ``older`` shape -> ``newer`` shape."""


class Step10To11:
    """1.0 -> 1.1: two-argument progress callback, and ``synthesize`` returns a Result."""

    older = "1.0"
    newer = "1.1"
    #: The status a 1.0 plugin's progress gets on a newer core (SPEC 1).
    STATUS = "running"

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        return args  # same arguments; the callback is adapted by up_progress

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        if hook != "synthesize" or not isinstance(value, str):
            return value
        info = ctx.wav_info(value, "")
        return {"audio": value, "sample_rate": info.sample_rate, "duration_s": info.duration_s}

    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0], self.STATUS) if len(args) == 1 else args


def _valid_duration(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and value >= 0)


class Step11To12:
    """1.1 -> 1.2: ``voice_config.speed`` became ``rate``; Dataset items need ``duration_s``."""

    older = "1.1"
    newer = "1.2"

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        if hook == "synthesize" and len(args) == 2 and isinstance(args[1], dict):
            config = dict(args[1])
            # ``speed`` means nothing to a 1.2 core (an unknown key, ignored): it must not
            # reach the 1.1 plugin, where it would mean something.
            config.pop("speed", None)
            if "rate" in config:
                config["speed"] = config.pop("rate")
            return [args[0], config]
        if hook == "train" and args and isinstance(args[0], dict):
            return [self._down_dataset(args[0]), *args[1:]]
        return args

    @staticmethod
    def _down_dataset(dataset: dict[str, Any]) -> dict[str, Any]:
        items = dataset.get("items")
        if not isinstance(items, list):
            return dataset
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                out.append(item)
                continue
            # Required in 1.2: a 1.1 plugin cannot notice its absence, so the shim must
            # refuse on the core's behalf, or the verdict would differ from a 1.2 plugin's.
            if not _valid_duration(item.get("duration_s")):
                what = "is missing" if "duration_s" not in item else \
                    f"is {item['duration_s']!r}, not a number >= 0"
                raise InvalidInputRejected(
                    f"items[{index}].duration_s {what} (required by API 1.2; rejected by the "
                    "1.1 -> 1.2 shim)", remote_type="ValueError",
                    details={"raised_by": "shim 1.1->1.2", "pointer": f"/items/{index}"})
            out.append({k: v for k, v in item.items() if k != "duration_s"})
        return {**dataset, "items": out}

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        if hook != "preprocess" or not isinstance(value, dict) \
                or not isinstance(value.get("items"), list):
            return value
        items = []
        for index, item in enumerate(value["items"]):
            if isinstance(item, dict) and "duration_s" not in item \
                    and isinstance(item.get("audio"), str):
                info = ctx.wav_info(item["audio"], f"/items/{index}/audio")
                items.append({**item, "duration_s": info.duration_s})
            else:
                items.append(item)
        return {**value, "items": items}

    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args


#: The steps the reference host uses, keyed by (older, newer).
DEFAULT_STEPS: Mapping[tuple[str, str], ShimStep] = {
    ("1.0", "1.1"): Step10To11(),
    ("1.1", "1.2"): Step11To12(),
}


@dataclass(frozen=True)
class ShimChain:
    """Steps from the plugin's API (first) up to the core's (last); empty when native."""

    steps: tuple[ShimStep, ...] = ()

    @property
    def versions(self) -> tuple[str, ...]:
        if not self.steps:
            return ()
        return (self.steps[0].older, *(s.newer for s in self.steps))

    def down_args(self, hook: str, args: list[Any], ctx: ShimContext) -> list[Any]:
        for step in reversed(self.steps):
            args = step.down_args(hook, args, ctx)
        return args

    def up_result(self, hook: str, value: Any, ctx: ShimContext) -> Any:
        for step in self.steps:
            value = step.up_result(hook, value, ctx)
        return value

    def up_progress(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        for step in self.steps:
            args = step.up_progress(args)
        return args


def build_chain(chain: Sequence[str],
                steps: Mapping[tuple[str, str], ShimStep] | None = None) -> ShimChain:
    """The :class:`ShimChain` for a ``Decision.chain`` such as ``("1.0", "1.1", "1.2")``.

    ``steps`` overrides entries of :data:`DEFAULT_STEPS` (injection point).
    """
    table = {**DEFAULT_STEPS, **(steps or {})}
    out = []
    for older, newer in itertools.pairwise(chain):
        try:
            out.append(table[(older, newer)])
        except KeyError:
            raise LookupError(f"no shim step from API {older} to {newer}") from None
    return ShimChain(tuple(out))
