"""Fixtures for the plugin's own tests: a fake registry and real espeak-ng datasets.

These tests run without the conformance kit (``python -m pytest tests``), so
the registry is a small stand-in with what SPEC 3 promises: ``workspace``
(absolute ``Path``), ``temp_dir``, ``settings`` (read-only mapping),
``logger``, ``api_version``, ``core_version``, all read-only.  The kit's own
checks (``pytest --vcs-plugin=.``) then run the same hooks inside its host.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from helpers import Progress, record_dataset

from vcs_example_espeak import plugin


@pytest.fixture(autouse=True)
def _espeak_ng_installed() -> None:
    """Checked when a test runs, not at import: ``pytest --vcs-plugin=.
    --vcs-install-system-deps`` installs espeak-ng (the manifest's system
    dependency) while the session starts, after this file is imported."""
    if shutil.which("espeak-ng") is None:  # pragma: no cover - depends on the machine
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng "
                    "(or run with --vcs-plugin=. --vcs-install-system-deps)", pytrace=False)


class FakeRegistry:
    """The read-only registry of SPEC 3, reduced to what a plugin can observe."""

    __slots__ = ("_values",)

    def __init__(self, workspace: Path, temp_dir: Path,
                 settings: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", {
            "api_version": "1.2", "core_version": "1.2.0", "workspace": workspace,
            "temp_dir": temp_dir, "settings": MappingProxyType(dict(settings or {})),
            "logger": logging.getLogger("vcs.plugin.vcs-example-espeak"),
        })

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise PermissionError(f"registry.{name} is read-only")

    def __delattr__(self, name: str) -> None:
        raise PermissionError(f"registry.{name} is read-only")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace laid out as SPEC 4 says."""
    root = (tmp_path / "workspace").resolve()
    for sub in ("datasets", "cache", "models", "outputs"):
        (root / sub).mkdir(parents=True)
    return root


@pytest.fixture
def make_hooks(workspace: Path, tmp_path: Path) -> Callable[..., dict[str, Callable[..., Any]]]:
    """``make_hooks(settings=None)``: register the plugin against the workspace."""
    def make(settings: Mapping[str, Any] | None = None) -> dict[str, Callable[..., Any]]:
        temp = tmp_path / "plugin-tmp"
        temp.mkdir(exist_ok=True)
        return plugin.register(FakeRegistry(workspace, temp, settings))
    return make


@pytest.fixture
def hooks(make_hooks: Callable[..., dict[str, Callable[..., Any]]]
          ) -> dict[str, Callable[..., Any]]:
    return make_hooks()


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
def dataset(workspace: Path) -> Iterator[str]:
    """A three-utterance espeak-ng dataset at the default pitch."""
    yield record_dataset(workspace, "plain")
