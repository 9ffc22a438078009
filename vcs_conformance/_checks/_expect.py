"""``--vcs-expect``: known failures by check id, kept honest.

An expected failure that fails is an xfail; one that passes fails the run
with a message to delete the entry (like pytest's ``xfail_strict``), so
stale entries do not pile up.  An entry naming no known check is an error,
so a typo cannot silently expect nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import schemas
from ..compat import InvalidVersionString, parse_api
from ._catalogue import BY_ID


class ExpectationsError(ValueError):
    """The expectations file cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class Expectation:
    check: str
    reason: str
    issue: str | None = None
    cores: tuple[str, ...] | None = None
    plugins: tuple[str, ...] | None = None

    def applies(self, core_version: str, plugin: str) -> bool:
        if self.plugins is not None and plugin not in self.plugins:
            return False
        if self.cores is None:
            return True
        core_api = "{}.{}".format(*parse_api(core_version))
        return any(c in (core_version, core_api) for c in self.cores)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.issue:
            out["issue"] = self.issue
        if self.cores:
            out["cores"] = list(self.cores)
        if self.plugins:
            out["plugins"] = list(self.plugins)
        return out


def load_expectations(path: Path) -> dict[str, Expectation]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectationsError(f"{path}: cannot read the expectations file: "
                                f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ExpectationsError(f"{path}: not UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExpectationsError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {"expectations": {}}
    errors = sorted(schemas.validator("expectations").iter_errors(data),
                    key=lambda e: list(map(str, e.path)))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
        raise ExpectationsError(f"{path}: invalid expectations file:\n" + "\n".join(lines))
    out: dict[str, Expectation] = {}
    unknown = [k for k in data["expectations"] if k not in BY_ID]
    if unknown:
        raise ExpectationsError(
            f"{path}: {', '.join(map(repr, unknown))} "
            f"{'is not a check id' if len(unknown) == 1 else 'are not check ids'}; "
            "run 'vcs-conformance checks' for the catalogue")
    for check, entry in data["expectations"].items():
        for core in entry.get("cores", ()):
            try:
                parse_api(core)
            except InvalidVersionString as exc:
                raise ExpectationsError(f"{path}: /expectations/{check}/cores: {exc}") from None
        out[check] = Expectation(check, entry["reason"], entry.get("issue"),
                                 tuple(entry["cores"]) if "cores" in entry else None,
                                 tuple(entry["plugins"]) if "plugins" in entry else None)
    return out


def write_expectations(path: Path, old: Mapping[str, Expectation],
                       verdicts: Mapping[str, Mapping[str, str]], core_version: str) -> None:
    """``--vcs-update-expect``: keep entries still failing, add new failures, drop passes.

    ``verdicts`` is check id -> plugin -> ``passed``/``failed`` for this run
    on ``core_version``.  An entry is dropped only when it *applies* to this
    run (its ``cores`` and ``plugins`` cover a plugin that ran the check) and
    the check passed wherever it applies: an entry for another core or
    another plugin says nothing this run can contradict, so it stays.  A new
    failure seen on only some of the plugins that ran the check is recorded
    for those plugins, so the others do not turn into stale-entry failures.
    """
    entries: dict[str, dict[str, Any]] = {}
    failing = {c for c, by_plugin in verdicts.items() if "failed" in by_plugin.values()}
    for check in sorted(set(old) | failing):
        ran = verdicts.get(check, {})
        if check in old:
            entry = old[check]
            applicable = {p: v for p, v in ran.items() if entry.applies(core_version, p)}
            if applicable and set(applicable.values()) == {"passed"}:
                continue  # it passes wherever it was expected to fail: stale
            entries[check] = entry.to_json()
            continue
        failed_on = sorted(p for p, v in ran.items() if v == "failed")
        new: dict[str, Any] = {"reason": "recorded by --vcs-update-expect: explain or fix"}
        if len(failed_on) < len(ran):
            new["plugins"] = failed_on
        entries[check] = new
    body = yaml.safe_dump({"version": 1, "expectations": entries}, sort_keys=True,
                          allow_unicode=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("# Expected failures of vcs-conformance checks (--vcs-expect).\n" + body,
                   encoding="utf-8")
    tmp.replace(path)
