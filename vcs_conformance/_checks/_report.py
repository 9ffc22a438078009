"""Coverage accounting and the JSON report.

A green run in which nothing ran is a failure, not a pass: so we count, per
plugin, how many checks passed, failed, were skipped (and why) or xfailed,
and how many hypothesis examples each hook really ran.  The counts come from
test reports (``user_properties``), which pytest-xdist ships from its
workers, so the controller's numbers are complete under ``-n``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ._catalogue import BY_ID


@dataclass
class PluginTally:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    properties: dict[str, Any] = field(default_factory=dict)


class Accounting:
    def __init__(self) -> None:
        self.plugins: dict[str, PluginTally] = {}
        self.notes: list[str] = []

    def record(self, report: pytest.TestReport, props: dict[str, Any]) -> None:
        plugin = str(props["vcs_plugin"])
        check = str(props["vcs_check"])
        tally = self.plugins.setdefault(plugin, PluginTally())
        entry = tally.checks.setdefault(check, {"outcome": "passed", "reason": None,
                                                "duration_s": 0.0, "node": report.nodeid})
        entry["duration_s"] += report.duration
        for key in ("vcs_core", "vcs_api", "vcs_decision", "vcs_sandbox", "vcs_repro"):
            if key in props:
                tally.properties[key] = props[key]
        if "vcs_outcome" in props:
            entry["verdict"] = props["vcs_outcome"]  # the check's own verdict
        if key_repro := props.get("vcs_repro"):
            entry["repro"] = key_repro
        if report.when == "call" and "vcs_plugin_s" in props:
            entry["plugin_s"] = float(props["vcs_plugin_s"])
        if report.when == "call" and "vcs_kit_ms" in props:
            entry["kit_ms_per_example"] = float(props["vcs_kit_ms"])
        if report.when == "call" and "vcs_examples" in props:
            spec = BY_ID.get(check)
            entry["examples"] = int(props["vcs_examples"])
            if spec is not None and spec.hook is not None:
                tally.examples[spec.hook] += int(props["vcs_examples"])
        if hasattr(report, "wasxfail"):
            entry["outcome"] = "xfailed" if report.skipped else "xpassed"
            entry["reason"] = report.wasxfail
        elif report.skipped:
            entry["outcome"] = "skipped"
            longrepr = report.longrepr
            entry["reason"] = (str(longrepr[2]).removeprefix("Skipped: ")
                               if isinstance(longrepr, tuple) else str(longrepr))
        elif report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["reason"] = " / ".join(str(report.longrepr).splitlines()[0:3])

    def ran(self) -> int:
        return sum(1 for t in self.plugins.values() for c in t.checks.values()
                   if c["outcome"] in ("passed", "failed", "xfailed", "xpassed"))

    def failed_and_passed(self) -> tuple[list[str], list[str]]:
        failed, passed = set(), set()
        for tally in self.plugins.values():
            for check, entry in tally.checks.items():
                verdict = entry.get("verdict") or entry["outcome"]
                if verdict in ("failed", "xfailed"):
                    failed.add(check)
                elif verdict in ("passed", "xpassed"):
                    passed.add(check)
        return sorted(failed), sorted(passed - failed)

    def summary_lines(self, catalogue_size: int) -> list[str]:
        lines = []
        for plugin, tally in sorted(self.plugins.items()):
            counts: dict[str, int] = defaultdict(int)
            for entry in tally.checks.values():
                counts[entry["outcome"]] += 1
            order = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
            parts = ", ".join(f"{counts[o]} {o}" for o in order if counts[o])
            lines.append(f"{plugin}: catalogue {catalogue_size}, {parts}")
            examples = ", ".join(f"{hook} {n}" for hook, n in sorted(tally.examples.items()))
            if examples:
                lines.append(f"  hypothesis examples run: {examples}")
            grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
            for check, entry in sorted(tally.checks.items()):
                if entry["outcome"] in ("skipped", "xfailed") and entry["reason"]:
                    grouped[(entry["outcome"], entry["reason"])].append(check)
            for (outcome, reason), checks in sorted(grouped.items()):
                lines.append(f"  {outcome} {', '.join(checks)}: {reason}")
        lines.extend(self.notes)
        return lines


def write_report(path: Path, settings: Any, accounting: Accounting,
                 headers: dict[str, dict[str, Any]]) -> None:
    """The JSON report (``schemas/common/report.schema.json``), written atomically."""
    plugins = []
    for plugin, tally in sorted(accounting.plugins.items()):
        counts: dict[str, int] = defaultdict(int)
        for entry in tally.checks.values():
            counts[entry["outcome"]] += 1
        plugins.append({
            "plugin": plugin,
            "info": headers.get(plugin, {}),
            "counts": dict(counts),
            "examples": dict(tally.examples),
            "checks": {k: {kk: vv for kk, vv in v.items() if vv is not None}
                       for k, v in sorted(tally.checks.items())},
        })
    doc = {
        "version": 1,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": {
            "core_version": settings.core_version, "shim_window": settings.shim_window,
            "sandbox": settings.sandbox, "env": settings.env, "profile": settings.profile,
            "suite": settings.suite, "examples": settings.examples_for(None),
        },
        "python": platform.python_version(),
        "plugins": plugins,
        "notes": accounting.notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
