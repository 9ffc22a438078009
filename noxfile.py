"""nox sessions of the kit: ``tests``, ``lint``, the ``conformance`` matrix and the ``gate``.

uv is nox's venv backend (venvs in ~30 ms instead of seconds), virtualenv
the fallback where uv cannot be found (``"uv|virtualenv"``: nox tries them
in order).  Not ``shutil.which("uv")``: uv is a dependency of the kit and
lives in its venv, which is not on ``PATH`` when nox runs from an
unactivated venv, so that test fell back to virtualenv for no reason.

``conformance`` is parametrized over the cells of the kit's matrix list
(``tests/fixtures/matrix/conformance.toml``: every plugin on cores 1.0, 1.1
and 1.2, plus the window-2 cell), one session per cell, each asserting its
cell's expected outcome from the list's expect table.  ``gate`` runs a plugin
list on every core and fails when a cell is worse than the committed
baseline.  Both call the kit's matrix runner, which runs cells as parallel
pytest subprocesses; plugin envs come from the kit's shared env cache
(``VCS_CONFORMANCE_CACHE_DIR``, passed through), so a warm matrix rebuilds
nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

LINTED = ["vcs_conformance", "tests", "noxfile.py", "benchmarks"]


def _install_kit(session: nox.Session, spec: str = ".") -> None:
    """``pip install -e SPEC``, skipped when this (reused) venv already holds it.

    Why: nox reinstalls on every run, even into a reused venv, and the matrix
    has a session per cell.  The kit is installed editable, so only a change
    of ``pyproject.toml`` (dependencies, entry points) needs a new install:
    its hash is stamped into the venv.
    """
    location = getattr(getattr(session, "virtualenv", None), "location", None)
    stamp_file = Path(location, ".vcs-kit-installed") if location else None
    stamp = hashlib.sha256((HERE / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    if stamp_file is not None and stamp_file.is_file() \
            and stamp_file.read_text(encoding="utf-8") == stamp:
        session.log(f"the kit ({spec}) is installed in this venv already")
        return
    session.install("-e", spec)
    if stamp_file is not None:
        stamp_file.write_text(stamp, encoding="utf-8")


@nox.session
def tests(session: nox.Session) -> None:
    """The kit's test suite, against the kit installed in the session venv."""
    _install_kit(session, ".[test]")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the code, ``mypy --strict`` over the kit."""
    _install_kit(session, ".[test]")
    session.run("ruff", "check", *LINTED)
    session.run("mypy", "--strict", "vcs_conformance")


# -- the compatibility matrix ----------------------------------------------------------------

HERE = Path(__file__).resolve().parent
MATRIX_LIST = HERE / "tests" / "fixtures" / "matrix" / "conformance.toml"
#: The gate's plugin list and baseline; a core team points these at its own files.
GATE_LIST = os.environ.get("VCS_GATE_LIST", "tests/fixtures/matrix/gate.toml")
GATE_BASELINE = os.environ.get("VCS_GATE_BASELINE", "tests/fixtures/matrix/gate-baseline.json")
#: Extra ``pip install`` arguments for the gate session (shell words), e.g.
#: ``-e ../vcs-some-plugin``: how plugins listed by ``name`` get into its venv.
GATE_INSTALL = os.environ.get("VCS_GATE_INSTALL", "")
MATRIX_CLI = ("python", "-m", "vcs_conformance._cli_matrix")


def _read_list(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _matrix_cells(path: Path = MATRIX_LIST) -> list[Any]:
    """One ``nox.param(core, plugin, window)`` per cell of the list, id ``plugin@core[+wN]``.

    Read with the standard library: nox's own interpreter need not have the kit.
    ``vcs-conformance matrix`` validates the list properly when a session runs.
    """
    data = _read_list(path)
    cores = data.get("cores", ["1.0", "1.1", "1.2"])
    base = data.get("shim_window", 1)
    params = []
    for plugin in data.get("plugin", []):
        # The id defaults as in the kit's list loader: the directory or distribution name.
        if plugin.get("id"):
            pid = str(plugin["id"])
        elif plugin.get("path"):
            pid = (path.parent / str(plugin["path"])).resolve().name
        else:
            pid = str(plugin.get("name", "")).strip()
        params += [nox.param(core, pid, base, id=f"{pid}@{core}") for core in cores]
        for extra in plugin.get("extra", []):
            core, _, window = str(extra).partition("+w")
            if not window.isdigit():
                continue  # not core+wN: the matrix command reports it when a session runs
            params.append(nox.param(core, pid, int(window), id=f"{pid}@{extra}"))
    return params


def _cell_key(core: str, plugin: str, window: int, base: int) -> str:
    return f"{plugin}@{core}" + (f"+w{window}" if window != base else "")


#: Cell key -> results file, for the cells already measured in this nox invocation.
_MEASURED: dict[str, Path] = {}


def _queued_cells(session: Any, known: Iterable[str], base: int) -> list[str]:
    """Keys of the ``conformance`` cells nox has queued after this one (only ``known`` ones).

    Why peek: nox runs sessions one after another, but the matrix is only fast
    when its cells run side by side.  So the first ``conformance`` session
    measures every queued cell in one parallel batch and the later sessions
    just assert their cell.  This reads nox's session queue
    (``session._runner.manifest._queue``), which is not public API: anything
    there that does not look as expected (another nox version, a queue entry
    of another shape) makes it return what it can read, down to nothing, and
    then each session measures its own cell.  Never an error.
    """
    queue = getattr(getattr(getattr(session, "_runner", None), "manifest", None), "_queue", None)
    if not isinstance(queue, list | tuple):
        return []
    wanted = set(known)
    keys: list[str] = []
    for runner in list(queue):
        spec = getattr(getattr(runner, "func", None), "call_spec", None)
        if getattr(runner, "name", None) != "conformance" or not isinstance(spec, dict):
            continue
        core, plugin, window = spec.get("core"), spec.get("plugin"), spec.get("window")
        if not (isinstance(core, str) and isinstance(plugin, str) and isinstance(window, int)):
            continue
        key = _cell_key(core, plugin, window, base)
        if key in wanted and key not in keys:
            keys.append(key)
    return keys


def _cell_verdict(path: Path, key: str) -> dict[str, Any]:
    """The cell's verdict from ``matrix run --verdicts`` (a missing one is a failure).

    The results name cores in full (``1.2`` is ``1.2.0`` there).
    """
    try:
        verdicts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"ok": False, "line": f"{key}: no verdicts from the matrix run ({path}: {exc})"}
    plugin, _, column = key.partition("@")
    core, plus, window = column.partition("+")
    full = f"{plugin}@{'.'.join([*core.split('.'), '0', '0'][:3])}{plus}{window}"
    found = verdicts.get(full) if isinstance(verdicts, dict) else None
    if not isinstance(found, dict) or not isinstance(found.get("line"), str):
        return {"ok": False, "line": f"{key}: the matrix run gave no verdict for this cell"}
    return {"ok": found.get("ok") is True, "line": found["line"]}


def _named_plugins(path: Path | str) -> list[str]:
    """The ``name = ...`` entries of a plugin list (they must be installed to be run)."""
    try:
        data = _read_list(Path(path))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # the kit's CLI reports an unreadable list properly
    return [str(p["name"]) for p in data.get("plugin", [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)]


@nox.session(reuse_venv=True)
@nox.parametrize(("core", "plugin", "window"), _matrix_cells())
def conformance(session: nox.Session, core: str, plugin: str, window: int) -> None:
    """One cell of the kit's matrix, asserted against the list's expect table.

    ``nox -s conformance`` runs them all (measured in one parallel batch);
    ``nox -s "conformance(api-1-0@1.2+w2)"`` one.  Extra arguments after ``--``
    go to the matrix runner, e.g. ``-- --pytest-arg=--vcs-sandbox=basic``.
    """
    base = _read_list(MATRIX_LIST).get("shim_window", 1)
    key = _cell_key(core, plugin, window, base)
    _install_kit(session)  # once per session venv (reused afterwards)
    if key not in _MEASURED:
        known = [p.id for p in _matrix_cells()]
        batch = [key] + [k for k in _queued_cells(session, known, base)
                         if k not in _MEASURED and k != key]
        out = Path(".nox", "_conformance", key.replace("@", "_").replace("+", "_"))
        verdicts = out / "verdicts.json"
        verdicts.unlink(missing_ok=True)
        session.log(f"measuring {len(batch)} cell(s) in parallel: {', '.join(batch)}")
        session.run(*MATRIX_CLI, "matrix", "run", str(MATRIX_LIST), "--out", str(out),
                    "--verdicts", str(verdicts), *(f"--cell={k}" for k in batch),
                    *session.posargs)
        _MEASURED.update(dict.fromkeys(batch, verdicts))
    verdict = _cell_verdict(_MEASURED[key], key)
    if not verdict["ok"]:
        session.error(verdict["line"])
    session.log(verdict["line"])


@nox.session(reuse_venv=True)
def gate(session: nox.Session) -> None:
    """The core team's canary: a plugin list on every core against a committed baseline.

    Writes ``compat-matrix/compat-matrix.{json,md,html}``; fails when a cell is
    worse than the baseline.  ``nox -s gate -- --update-baseline`` accepts the
    run on purpose.  ``VCS_GATE_LIST`` / ``VCS_GATE_BASELINE`` point at a core
    team's own files (default: the kit's fixtures).  Plugins the list names by
    ``name`` must be installed into the session: ``VCS_GATE_INSTALL`` holds the
    ``pip install`` arguments (e.g. ``-e ../vcs-some-plugin``); without it such a
    list stops here with the names, instead of every cell of theirs erroring.
    """
    _install_kit(session)
    named = _named_plugins(GATE_LIST)
    if GATE_INSTALL.strip():
        try:
            words = shlex.split(GATE_INSTALL)
        except ValueError as exc:
            session.error(f"VCS_GATE_INSTALL={GATE_INSTALL!r} is not valid shell words: {exc}")
        session.install(*words)
    elif named:
        session.error(f"{GATE_LIST} names plugin(s) {', '.join(named)} by name, which this "
                      "session cannot run until they are installed into it: set "
                      "VCS_GATE_INSTALL to their pip install arguments (e.g. "
                      "VCS_GATE_INSTALL='-e ../vcs-some-plugin'), or list them by path")
    session.run(*MATRIX_CLI, "gate", GATE_LIST, "--baseline", GATE_BASELINE,
                "--out", "compat-matrix", *session.posargs)
