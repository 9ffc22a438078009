"""Coverage accounting and the JSON report.

A green run in which nothing ran is a failure, not a pass: so we count, per
plugin, how many checks passed, failed, were skipped (and why) or xfailed,
and how many hypothesis examples each hook really ran.  The counts come from
test reports (``user_properties``), which pytest-xdist ships from its
workers, so the controller's numbers are complete under ``-n``.

The catalogue size is the plugin's own (``shim-equivalence`` exists only
when a shim chain serves it), and the examples of a failed hypothesis-driven
check are counted too: a failure after 24 examples ran 24 examples.  Each process that loaded
a plugin ships its env facts once (``vcs_env_info``), so the report shows
whether each xdist worker hit the env cache or built the env.
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
    #: Env facts of each process that loaded the plugin: ``{"worker": id, **env info}``.
    envs: list[dict[str, Any]] = field(default_factory=list)


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
        for key in ("vcs_core", "vcs_api", "vcs_decision", "vcs_shim_chain", "vcs_sandbox",
                    "vcs_repro"):
            if key in props:
                tally.properties[key] = props[key]
        if "vcs_outcome" in props:
            entry["verdict"] = props["vcs_outcome"]  # the check's own verdict
        if key_repro := props.get("vcs_repro"):
            entry["repro"] = key_repro
        if report.when == "call" and "vcs_env_info" in props:
            try:
                info = json.loads(str(props["vcs_env_info"]))
            except ValueError:
                info = None
            if isinstance(info, dict) and info not in tally.envs:
                tally.envs.append(info)
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

    def verdicts(self) -> dict[str, dict[str, str]]:
        """check id -> plugin -> ``passed`` or ``failed`` (the check's own verdict)."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for plugin, tally in self.plugins.items():
            for check, entry in tally.checks.items():
                verdict = entry.get("verdict") or entry["outcome"]
                if verdict in ("failed", "xfailed"):
                    out[check][plugin] = "failed"
                elif verdict in ("passed", "xpassed"):
                    out[check][plugin] = "passed"
        return dict(out)

    def summary_lines(self, catalogue: dict[str, int]) -> list[str]:
        """The terminal summary; ``catalogue`` is each plugin's applicable catalogue size."""
        lines = []
        for plugin, tally in sorted(self.plugins.items()):
            counts: dict[str, int] = defaultdict(int)
            for entry in tally.checks.values():
                counts[entry["outcome"]] += 1
            order = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
            parts = ", ".join(f"{counts[o]} {o}" for o in order if counts[o])
            size = catalogue.get(plugin)
            lines.append(f"{plugin}: catalogue {size if size is not None else '?'}, {parts}")
            examples = ", ".join(f"{hook} {n}" for hook, n in sorted(tally.examples.items()))
            if examples:
                lines.append(f"  hypothesis examples run: {examples}")
            if len(tally.envs) > 1 or any(e.get("worker") != "main" for e in tally.envs):
                # Several processes (xdist workers) loaded it: who built the env, who reused it.
                lines.append("  env: " + ", ".join(
                    f"{e.get('worker')} {'cache hit' if e.get('cache_hit') else 'built'}"
                    if e.get("kind") == "isolated" else f"{e.get('worker')} {e.get('kind')}"
                    for e in sorted(tally.envs, key=lambda e: str(e.get("worker")))))
            grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
            for check, entry in sorted(tally.checks.items()):
                if entry["outcome"] in ("skipped", "xfailed") and entry["reason"]:
                    grouped[(entry["outcome"], entry["reason"])].append(check)
            for (outcome, reason), checks in sorted(grouped.items()):
                lines.append(f"  {outcome} {', '.join(checks)}: {reason}")
        lines.extend(self.notes)
        return lines


def write_report(path: Path, settings: Any, accounting: Accounting,
                 headers: dict[str, dict[str, Any]],
                 catalogue: dict[str, int] | None = None) -> None:
    """The JSON report (``schemas/common/report.schema.json``), written atomically."""
    plugins = []
    for plugin, tally in sorted(accounting.plugins.items()):
        counts: dict[str, int] = defaultdict(int)
        for entry in tally.checks.values():
            counts[entry["outcome"]] += 1
        info = dict(headers.get(plugin, {}))
        if tally.envs:
            # Under xdist the controller never loads the plugin: the workers' facts.
            info.setdefault("env", {k: v for k, v in tally.envs[0].items() if k != "worker"})
            info["env_processes"] = tally.envs
        plugins.append({
            "plugin": plugin,
            "catalogue": (catalogue or {}).get(plugin, len(tally.checks)),
            "info": info,
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
            **({"seed": settings.seed} if settings.seed is not None else {}),
        },
        "python": platform.python_version(),
        "plugins": plugins,
        "notes": accounting.notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
