"""The noxfile's pure helpers: cells from the matrix list, cell keys, the queue peek.

The noxfile is imported as a module (importlib, by path): nothing runs, nox
only registers the sessions.  No session is started here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kit_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uv_is_the_backend_with_virtualenv_as_nox_fallback(noxfile: ModuleType) -> None:
    import nox

    assert nox.options.default_venv_backend == "uv|virtualenv"
    assert not hasattr(noxfile, "shutil")  # no PATH probe deciding the backend any more


def test_matrix_cells_follow_the_list(noxfile: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "list.toml"
    path.write_text('cores = ["1.1", "1.2"]\nshim_window = 1\n'
                    '[[plugin]]\nid = "a"\npath = "."\nextra = ["1.2+w2"]\n'
                    '[[plugin]]\nid = "b"\npath = "."\n', encoding="utf-8")
    cells = noxfile._matrix_cells(path)
    assert [c.id for c in cells] == ["a@1.1", "a@1.2", "a@1.2+w2", "b@1.1", "b@1.2"]
    assert [c.args for c in cells] == [("1.1", "a", 1), ("1.2", "a", 1), ("1.2", "a", 2),
                                       ("1.1", "b", 1), ("1.2", "b", 1)]
    # each id is the cell key the session asserts (and the matrix runner selects)
    assert all(c.id == noxfile._cell_key(*c.args, 1) for c in cells)


def test_the_kits_matrix_has_every_plugin_on_every_core(noxfile: ModuleType) -> None:
    from vcs_conformance._matrix_list import load_list

    ids = [c.id for c in noxfile._matrix_cells()]
    mlist = load_list(noxfile.MATRIX_LIST)
    assert len(ids) == len(mlist.cells()) == len(set(ids))
    assert mlist.select(ids) == mlist.cells()  # every nox id is a cell key the CLI accepts
    assert "api-1-0@1.2+w2" in ids


def test_cell_key(noxfile: ModuleType) -> None:
    assert noxfile._cell_key("1.2", "p", 1, 1) == "p@1.2"
    assert noxfile._cell_key("1.2", "p", 2, 1) == "p@1.2+w2"
    assert noxfile._cell_key("1.2", "p", 1, 2) == "p@1.2+w1"


def _runner(name: str, **spec: Any) -> Any:
    return SimpleNamespace(name=name, func=SimpleNamespace(call_spec=spec))


def _session(queue: Any) -> Any:
    return SimpleNamespace(_runner=SimpleNamespace(manifest=SimpleNamespace(_queue=queue)))


def test_queued_cells_reads_the_conformance_sessions_in_the_queue(noxfile: ModuleType) -> None:
    queue = [_runner("conformance", core="1.1", plugin="a", window=1),
             _runner("lint"),
             _runner("conformance", core="1.2", plugin="a", window=2),
             _runner("conformance", core="1.2", plugin="a", window=2),  # listed twice
             _runner("conformance", core="1.0", plugin="zz", window=1)]  # not in the list
    known = ["a@1.1", "a@1.2", "a@1.2+w2"]
    assert noxfile._queued_cells(_session(queue), known, 1) == ["a@1.1", "a@1.2+w2"]


@pytest.mark.parametrize("session", [
    SimpleNamespace(),  # no _runner at all (another nox)
    SimpleNamespace(_runner=None),
    SimpleNamespace(_runner=SimpleNamespace(manifest=SimpleNamespace())),  # no _queue
    _session(None),
    _session("not a list"),
    _session([object(), SimpleNamespace(name="conformance", func=None),
              SimpleNamespace(name="conformance", func=SimpleNamespace(call_spec="x")),
              _runner("conformance", core=1.2, plugin="a", window=1),
              _runner("conformance", core="1.2", plugin="a")]),
])
def test_queued_cells_falls_back_to_nothing_never_an_error(noxfile: ModuleType,
                                                          session: Any) -> None:
    assert noxfile._queued_cells(session, ["a@1.2"], 1) == []


def test_queued_cells_on_a_real_nox_manifest(noxfile: ModuleType) -> None:
    """Against nox's own Manifest, so a nox upgrade that moves the queue shows up here."""
    import argparse

    from nox.manifest import Manifest

    registry = {"conformance": noxfile.conformance, "gate": noxfile.gate}
    manifest = Manifest(registry, argparse.Namespace(posargs=[], pythons=(), extra_pythons=(),
                                                     force_pythons=(), keywords=None,
                                                     tags=None, default_venv_backend=None,
                                                     force_venv_backend=None))
    session = SimpleNamespace(_runner=SimpleNamespace(manifest=manifest))
    known = [c.id for c in noxfile._matrix_cells()]
    queued = noxfile._queued_cells(session, known, 1)
    assert queued == known


def test_named_plugins_of_a_list(noxfile: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text('[[plugin]]\npath = "."\n[[plugin]]\nname = "vcs-x"\n'
                    '[[plugin]]\nname = "vcs-y"\nid = "y"\n', encoding="utf-8")
    assert noxfile._named_plugins(path) == ["vcs-x", "vcs-y"]
    assert noxfile._named_plugins(tmp_path / "missing.toml") == []
    assert noxfile._named_plugins(ROOT / "tests" / "fixtures" / "matrix" / "gate.toml") == []


def test_cell_verdict_reads_the_batch_verdicts(noxfile: ModuleType, tmp_path: Path) -> None:
    import json

    path = tmp_path / "verdicts.json"
    path.write_text(json.dumps({
        "p@1.2.0": {"ok": True, "line": "p@1.2.0: pass (as expected)"},
        "p@1.2.0+w2": {"ok": False, "line": "UNEXPECTED p@1.2.0+w2: expected shimmed"}}),
        encoding="utf-8")
    # the session's key names the core short (1.2); the results name it in full
    assert noxfile._cell_verdict(path, "p@1.2") == {"ok": True,
                                                     "line": "p@1.2.0: pass (as expected)"}
    assert noxfile._cell_verdict(path, "p@1.2+w2")["ok"] is False
    # no verdict for the cell, or no file: a failure that says so, never a pass
    missing = noxfile._cell_verdict(path, "q@1.2")
    assert missing["ok"] is False and "no verdict" in missing["line"]
    assert noxfile._cell_verdict(tmp_path / "none.json", "p@1.2")["ok"] is False


def test_the_kit_is_installed_once_per_venv_and_again_when_pyproject_changes(
        noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installs: list[tuple[str, ...]] = []
    session = SimpleNamespace(virtualenv=SimpleNamespace(location=str(tmp_path)),
                              install=lambda *args: installs.append(args),
                              log=lambda *args: None)
    noxfile._install_kit(session)
    noxfile._install_kit(session)
    assert installs == [("-e", ".")]
    noxfile._install_kit(session, ".[test]")  # another spec: installed
    assert installs[-1] == ("-e", ".[test]")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'changed'\n", encoding="utf-8")
    monkeypatch.setattr(noxfile, "HERE", project)
    noxfile._install_kit(session, ".[test]")  # pyproject.toml changed: installed again
    assert len(installs) == 3


def test_matrix_cells_default_the_id_as_the_list_loader_does(noxfile: ModuleType,
                                                             tmp_path: Path) -> None:
    """No ``id``: the directory or distribution name, never a KeyError at nox's import."""
    from vcs_conformance._matrix_list import load_list

    (tmp_path / "my-plugin").mkdir()
    path = tmp_path / "list.toml"
    path.write_text('cores = ["1.2"]\n[[plugin]]\npath = "my-plugin"\nextra = ["1.2+wide"]\n'
                    '[[plugin]]\nname = "vcs-named"\n', encoding="utf-8")
    ids = [c.id for c in noxfile._matrix_cells(path)]
    assert ids == ["my-plugin@1.2", "vcs-named@1.2"]  # the bad extra is the CLI's to report
    path.write_text(path.read_text(encoding="utf-8").replace('extra = ["1.2+wide"]\n', ""),
                    encoding="utf-8")
    assert [p.id for p in load_list(path).plugins] == ["my-plugin", "vcs-named"]
