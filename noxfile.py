"""nox sessions of the kit: ``tests``, ``lint`` (and the conformance matrix later).

uv is nox's venv backend when it is installed (venvs in ~30 ms instead of
seconds); virtualenv otherwise, so the file works on any machine.
"""

from __future__ import annotations

import shutil

import nox

nox.options.default_venv_backend = "uv" if shutil.which("uv") else "virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

LINTED = ["vcs_conformance", "tests", "noxfile.py", "benchmarks"]


@nox.session
def tests(session: nox.Session) -> None:
    """The kit's test suite, against the kit installed in the session venv."""
    session.install("-e", ".[test]")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the code, ``mypy --strict`` over the kit."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", *LINTED)
    session.run("mypy", "--strict", "vcs_conformance")
