"""The cell runner, driven with a fake interpreter that plays pytest (no plugin is run).

The fake writes the report the real pytest plugin would, logs when it
started and ended, and can hang or die, so the pool bound, the longest-first
order, the timeout (with the whole process tree killed) and the command line
are checked without the cost of real cells.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests._matrix_data import report
from vcs_conformance._matrix import cell_command, run_matrix
from vcs_conformance._matrix_list import Cell, PluginEntry, load_list

FAKE = """#!{python}
import json, os, subprocess, sys, time
args = sys.argv[1:]
if args[:1] == ["-c"]:
    print("False")
    sys.exit(0)
opts = dict(a[2:].split("=", 1) for a in args if a.startswith("--vcs-") and "=" in a)
handles = [a.split("=", 1)[1] for a in args if a.startswith("--vcs-plugin=")]
keys = [os.path.basename(h) + "@" + opts["vcs-core-version"] for h in handles]
key = "+".join(keys)
def log(event, **extra):
    with open(os.environ["FAKE_LOG"], "a") as fh:
        fh.write(json.dumps(dict(event=event, cell=key, t=time.monotonic(), **extra)) + "\\n")
log("start", args=args, cwd=os.getcwd())
plans = json.loads(os.environ["FAKE_PLAN"])
plan = plans.get(key, {{}})
if len(keys) > 1:  # a batch: one report entry per plugin, as the real plugin writes
    entries = []
    for h, k in zip(handles, keys):
        for e in plans.get(k, {{}}).get("report", {{}}).get("plugins", []):
            entries.append(dict(e, info=dict(e["info"], handle=h)))
    plan = {{"report": {{"version": 1, "plugins": entries}},
             "rc": max([plans.get(k, {{}}).get("rc", 0) for k in keys])}}
if plan.get("hang"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    log("child", pid=child.pid)
    time.sleep(120)
time.sleep(0.5)
if "report" in plan:
    with open(opts["vcs-report"], "w") as fh:
        json.dump(plan["report"], fh)
log("end")
sys.exit(plan.get("rc", 0))
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    script = tmp_path / "fake-python"
    script.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    (tmp_path / "list.toml").write_text(
        'cores = ["1.1", "1.2"]\n' + "".join(f'[[plugin]]\npath = "{n}"\n' for n in "abc"),
        encoding="utf-8")
    return {"python": str(script), "log": log, "list": load_list(tmp_path / "list.toml"),
            "tmp": tmp_path}


def _dead(pid: int) -> bool:
    """Gone or a zombie (killed; in a container nobody may reap it), within a few seconds."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _plan(monkeypatch: pytest.MonkeyPatch, plan: dict[str, Any]) -> None:
    monkeypatch.setenv("FAKE_PLAN", json.dumps(plan))


def test_cells_run_in_a_bounded_pool_and_are_classified(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ok = report("native")
    _plan(monkeypatch, {f"{p}@{c}": {"report": ok} for p in "abc" for c in ("1.1.0", "1.2.0")})
    m = run_matrix(fake["list"], fake["tmp"] / "out", jobs=2, python=fake["python"])
    assert [r.status for r in m.results.values()] == ["pass"] * 6
    assert list(m.results) == [f"{p}@{c}" for p in "abc" for c in ("1.1.0", "1.2.0")]
    running, most = 0, 0
    for event in sorted(_events(fake["log"]), key=lambda e: e["t"]):
        running += {"start": 1, "end": -1}[event["event"]]
        most = max(most, running)
    assert most == 2  # in parallel, never more than --jobs
    assert m.jobs == 2
    assert (fake["tmp"] / "out" / "cells" / "a_1.1.0" / "report.json").is_file()
    assert m.results["a@1.1.0"].report == "cells/a_1.1.0/report.json"


def test_each_cell_gets_its_own_config_rootdir_and_report(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _plan(monkeypatch, {})
    run_matrix(fake["list"], fake["tmp"] / "out", cells=fake["list"].select(["b@1.2"]), jobs=1,
               python=fake["python"], pytest_args=["--vcs-sandbox=basic"])
    (start,) = [e for e in _events(fake["log"]) if e["event"] == "start"]
    args, cell_dir = start["args"], str(fake["tmp"] / "out" / "cells" / "b_1.2.0")
    assert start["cwd"] == cell_dir
    assert args[:4] == ["-m", "pytest", "-p", "vcs_conformance.pytest_plugin"]
    assert ["-c", f"{cell_dir}/pytest.ini"] == args[4:6]
    assert f"--vcs-plugin={fake['tmp'] / 'b'}" in args
    assert "--vcs-core-version=1.2.0" in args and "--vcs-shim-window=1" in args
    assert f"--vcs-report={cell_dir}/report.json" in args
    assert args[-1] == "--vcs-sandbox=basic"


def test_an_installed_entry_point_is_not_loaded_twice(tmp_path: Path) -> None:
    entry = PluginEntry("p", str(tmp_path), "path")
    cmd = cell_command(Cell("p", "1.2.0", 2, "1.2.0+w2"), entry, tmp_path, python="py",
                       load_plugin=False)
    assert "-p" in cmd and "vcs_conformance.pytest_plugin" not in cmd
    assert "--vcs-shim-window=2" in cmd


def test_longest_cells_start_first_from_the_last_runs_timings(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake["tmp"] / "out"
    out.mkdir()
    seconds = {"a@1.1.0": 1, "a@1.2.0": 50, "b@1.1.0": 7, "b@1.2.0": 3, "c@1.1.0": 20,
               "c@1.2.0": 2}
    previous = {"version": 1, "cells": [
        {"plugin": k.split("@")[0], "core": k.split("@")[1], "window": 1, "status": "pass",
         "seconds": s} for k, s in seconds.items()]}
    (out / "compat-matrix.json").write_text(json.dumps(previous), encoding="utf-8")
    _plan(monkeypatch, {})
    run_matrix(fake["list"], out, jobs=1, python=fake["python"])
    started = [e["cell"] for e in _events(fake["log"]) if e["event"] == "start"]
    assert started == sorted(seconds, key=lambda k: -seconds[k])


def test_a_hanging_cell_is_killed_with_its_children_and_reported(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _plan(monkeypatch, {"a@1.1.0": {"hang": True}, "a@1.2.0": {"rc": 4}})
    m = run_matrix(fake["list"], fake["tmp"] / "out", cells=fake["list"].select(
        ["a@1.1", "a@1.2"]), jobs=2, python=fake["python"], timeout=3)
    hung, usage = m.results["a@1.1.0"], m.results["a@1.2.0"]
    assert hung.status == "error" and "timed out" in hung.reason
    (child,) = [e["pid"] for e in _events(fake["log"]) if e["event"] == "child"]
    assert _dead(child)
    assert usage.status == "error"
    assert "pytest exited 4 without writing a report" in usage.reason
    assert "-m pytest" in usage.reason  # the log tail says what was run


def test_the_results_file_is_written_beside_the_cells(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _plan(monkeypatch, {"c@1.2.0": {"report": report("native")}})
    out = fake["tmp"] / "out"
    first = run_matrix(fake["list"], out, cells=fake["list"].select(["a@1.1", "c@1.2"]), jobs=1,
                       python=fake["python"])
    doc = json.loads((out / "compat-matrix.json").read_text())
    assert {c["key"]: c["status"] for c in doc["cells"]} == {"a@1.1.0": "error",
                                                             "c@1.2.0": "pass"}
    assert doc["cells"][1]["seconds"] == round(first.results["c@1.2.0"].seconds, 3)


def _manifest(root: Path, name: str, api: str) -> None:
    (root / name / "vcs_plugin.yaml").write_text(
        f'name: vcs-{name}\nversion: "1.0.0"\ndescription: "x"\napi_version: "{api}"\n',
        encoding="utf-8")


def test_refused_cells_of_a_column_share_one_run_and_keep_their_own_verdicts(
        fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """a and b need a newer core than 1.1: one pytest for both there; c runs alone.

    One of the batch (b) fails a check anyway (the manifest lied about nothing
    here, but a batch must not let one plugin's verdict leak into another's).
    """
    _manifest(fake["tmp"], "a", "1.2")
    _manifest(fake["tmp"], "b", "1.2")
    _manifest(fake["tmp"], "c", "1.1")
    refused = report("incompatible", rule="needs-newer-core", message="needs core >= 1.2")
    _plan(monkeypatch, {
        "a@1.1.0": {"report": refused}, "b@1.1.0": {"report": report(
            "incompatible", rule="needs-newer-core", failed={"manifest-schema": "bad"}),
            "rc": 1},
        "c@1.1.0": {"report": report("native", api="1.1")},
        "a@1.2.0": {"report": report("native")}, "b@1.2.0": {"report": report("native")},
        "c@1.2.0": {"report": report("shim", chain=("1.1", "1.2"), api="1.1")}})
    m = run_matrix(fake["list"], fake["tmp"] / "out", jobs=2, python=fake["python"])
    starts = [e["cell"] for e in _events(fake["log"]) if e["event"] == "start"]
    assert sorted(starts) == sorted(["a@1.1.0+b@1.1.0", "c@1.1.0", "a@1.2.0", "b@1.2.0",
                                     "c@1.2.0"])
    assert m.results["a@1.1.0"].status == "skipped"
    assert m.results["a@1.1.0"].rule == "needs-newer-core"
    assert m.results["b@1.1.0"].status == "fail"
    assert m.results["b@1.1.0"].failing == ("manifest-schema",)
    assert m.results["a@1.1.0"].report == m.results["b@1.1.0"].report \
        == "cells/batch_1.1.0/report.json"
    assert {m.results[k].status for k in ("a@1.2.0", "b@1.2.0", "c@1.1.0")} == {"pass"}
    assert m.results["c@1.2.0"].status == "shimmed"
    # Opted out: every cell alone again.
    log = fake["log"]
    log.unlink()
    run_matrix(fake["list"], fake["tmp"] / "out2", jobs=2, python=fake["python"],
               batch_refused=False)
    assert len([e for e in _events(log) if e["event"] == "start"]) == 6
