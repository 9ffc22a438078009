"""What a check says: passed, failed (with the evidence), or skipped (with why).

One message template for every failure, in the manner of array-api-tests:
"expected X, saw Y, for input Z, replay with ..." (the bundle's replay
command, and the ``vcs-conformance run`` command of the call where the
command line can express it), plus the plugin's log tail, so a CI log
alone is enough to understand and reproduce a defect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class CheckSkipped(Exception):
    """The check does not apply (hook absent, incompatible plugin, a prerequisite failed)."""


@dataclass
class CheckFailed(Exception):
    """The plugin broke the contract: what was expected, what was seen, on which input."""

    expected: str
    seen: str
    example: Any = None
    hook: str | None = None
    log_tail: str = ""
    replay: str | None = None
    #: ``vcs-conformance run ...``: the call by hand, where the command line can say it.
    run_command: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.render())

    def render(self) -> str:
        lines = [f"expected {self.expected}", f"saw {self.seen}"]
        if self.example is not None:
            lines.append("for input " + _show(self.example))
        if self.replay:
            lines.append(f"replay with: {self.replay}")
        if self.run_command:
            lines.append(f"or call the hook by hand: {self.run_command}")
        if self.log_tail.strip():
            tail = self.log_tail.rstrip().splitlines()[-15:]
            lines.append("plugin log (last lines):")
            lines.extend("    " + ln for ln in tail)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _show(value: Any, limit: int = 600) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} characters)"
    return text


@dataclass
class CheckResult:
    """Bookkeeping of one check run, for the summary and the JSON report."""

    examples: int = 0
    calls: int = 0
    #: The kit's own seconds per example (generation, call, validation; the plugin's
    #: hook time taken out), in the order the examples ran.
    kit_seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
