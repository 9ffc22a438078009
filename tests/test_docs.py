"""docs/ci.md and the README's noxfile snippet: what users copy must work.

The workflows must parse, the core team's fan-out must wire
``strategy.matrix`` to a job output that ``matrix plan`` really writes, and
every ``vcs-conformance`` and ``--vcs-*`` flag shown must exist (checked
against the CLI's argparse parser and the pytest plugin's own options), so
a renamed flag fails here instead of in a user's CI.
"""

from __future__ import annotations

import argparse
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CI_MD = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def _workflows() -> list[dict[str, Any]]:
    return [yaml.safe_load(b) for b in _blocks(CI_MD, "yaml")]


def _readme_noxfile() -> str:
    (snippet,) = [b for b in _blocks(README, "python") if "import nox" in b]
    return snippet


def test_the_docs_have_both_workflows_and_they_parse() -> None:
    flows = _workflows()
    assert len(flows) == 2
    for flow in flows:
        assert isinstance(flow, dict) and flow.get("name") and isinstance(flow.get("jobs"), dict)
        for job_id, job in flow["jobs"].items():
            assert "runs-on" in job and isinstance(job.get("steps"), list), job_id
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), (job_id, step)


def _fanned_out(flow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(job, producing job, output) for every ``strategy.matrix: fromJSON(needs.J.outputs.X)``."""
    out = []
    for job_id, job in flow["jobs"].items():
        matrix = (job.get("strategy") or {}).get("matrix")
        if isinstance(matrix, str):
            found = re.fullmatch(r"\$\{\{\s*fromJSON\(needs\.([\w-]+)\.outputs\.([\w-]+)\)\s*}}",
                                 matrix.strip())
            assert found, f"{job_id}: strategy.matrix {matrix!r} is not fromJSON(needs.J.outputs.X)"
            out.append((job_id, found.group(1), found.group(2)))
    return out


def test_the_core_team_matrix_comes_from_a_job_that_produces_it() -> None:
    from vcs_conformance._matrix_list import load_list
    from vcs_conformance._matrix_render import fanout

    (gate_flow,) = [f for f in _workflows() if _fanned_out(f)]
    ((job_id, producer, output),) = _fanned_out(gate_flow)
    jobs = gate_flow["jobs"]
    job = jobs[job_id]
    needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
    assert producer in needs and producer in jobs
    value = jobs[producer]["outputs"][output]
    step_id, key = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*}}",
                                value.strip()).groups()  # type: ignore[union-attr]
    (step,) = [s for s in jobs[producer]["steps"] if s.get("id") == step_id]
    assert "vcs-conformance matrix plan" in step["run"] and "--github-output" in step["run"]
    assert key == "matrix"  # what `matrix plan --github-output` appends: matrix=<json>
    # every matrix.<field> the fanned-out job uses is a field of the plan's entries
    fields = set(fanout(load_list(ROOT / "tests" / "fixtures" / "matrix" / "gate.toml"))
                 ["include"][0])
    used = set(re.findall(r"\bmatrix\.([\w-]+)", yaml.safe_dump(job)))
    assert used and used <= fields, used - fields


def test_every_job_that_reads_the_gate_list_checks_out_the_path_plugins() -> None:
    """The list's paths are checked when it is read (plan, cell and gate all read it)."""
    (gate_flow,) = [f for f in _workflows() if _fanned_out(f)]
    for job_id, job in gate_flow["jobs"].items():
        if "$GATE_LIST" not in yaml.safe_dump(job):
            continue
        checkout = [s for s in job["steps"] if str(s.get("uses", "")).startswith(
            "actions/checkout@")]
        assert checkout and checkout[0].get("with", {}).get("submodules"), job_id


# -- flags ------------------------------------------------------------------------------------

def _cli_parsers() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every (sub)command of ``vcs-conformance`` -> its parser, from the CLI itself."""
    from vcs_conformance.cli import build_parser

    out: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        out[path] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk((*path, name), sub)

    walk((), build_parser())
    return out


def _commands(text: str) -> list[str]:
    """``vcs-conformance ...`` command texts: shell lines, run steps (folded), inline code."""
    text = re.sub(r"\\\n", " ", text)
    found = []
    for flow in _workflows() if text is CI_MD else []:
        for job in flow["jobs"].values():
            found += [" ".join(str(s["run"]).split()) for s in job["steps"] if "run" in s]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    found += re.findall(r"`([^`]*vcs-conformance [^`]*)`", prose.replace("\n", " "))
    found += [line for block in _blocks(text, "sh") for line in block.splitlines()]
    return [c[c.index("vcs-conformance "):] for c in found if "vcs-conformance " in c]


def _flags_ok(command: str, parsers: dict[tuple[str, ...], argparse.ArgumentParser]) -> list[str]:
    bare = re.sub(r"\$\{\{[^}]*}}", "X", command.split("#", maxsplit=1)[0])
    words = shlex.split(bare, posix=True)
    path: tuple[str, ...] = ()
    for word in words[1:]:
        if (*path, word) in parsers:
            path = (*path, word)
        elif not word.startswith("-"):
            break
    known = {o for a in parsers[path]._actions for o in a.option_strings}
    flags = [w.split("=", 1)[0] for w in words if w.startswith("--")]
    return [f"{' '.join(path) or '(top)'} {flag}" for flag in flags if flag not in known]


def test_every_vcs_conformance_flag_in_the_docs_exists() -> None:
    parsers = _cli_parsers()
    commands = _commands(CI_MD)
    assert len(commands) >= 8 and any("matrix plan" in c for c in commands)
    assert any("gate" in c and "--update-baseline" in c for c in commands)
    unknown = [u for c in commands for u in _flags_ok(c, parsers)]
    assert unknown == []


def test_the_flag_check_can_fail() -> None:
    parsers = _cli_parsers()
    assert _flags_ok("vcs-conformance gate L --baseline B --no-such-flag", parsers) == \
        ["gate --no-such-flag"]
    assert _flags_ok("vcs-conformance matrix plan L --github-output F", parsers) == []


def _pytest_flags() -> set[str]:
    """The ``--vcs-*`` options the kit's pytest plugin registers (through its own hook)."""
    import warnings

    from _pytest.config.argparsing import Parser

    from vcs_conformance import pytest_plugin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Parser() is pytest's own; no public way to build one
        parser = Parser()
    pytest_plugin.pytest_addoption(parser)
    return {name for group in parser._groups for opt in group.options for name in opt.names()}


@pytest.mark.parametrize(("where", "text"), [("docs/ci.md", CI_MD),
                                             ("README.md noxfile snippet", _readme_noxfile())])
def test_every_vcs_pytest_option_shown_exists(where: str, text: str) -> None:
    known = _pytest_flags()
    assert "--vcs-plugin" in known
    used = set(re.findall(r"--vcs-[a-z][a-z0-9-]*", text))
    assert used, where
    assert used - known == set(), where


def test_the_readme_snippet_is_the_one_in_docs() -> None:
    assert _readme_noxfile() in _blocks(CI_MD, "python")
    compile(_readme_noxfile(), "README.md noxfile snippet", "exec")


def test_the_docs_matrix_list_loads(tmp_path: Path) -> None:
    from vcs_conformance._matrix_list import load_list

    (block,) = [b for b in _blocks(CI_MD, "toml") if "[[plugin]]" in b]
    tomllib.loads(block)
    path = tmp_path / "vcs-matrix.toml"
    path.write_text(block, encoding="utf-8")
    mlist = load_list(path)
    assert [c.key for c in mlist.cells()][-1] == "mine@1.2.0+w2"
