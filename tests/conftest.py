"""Shared fixtures: where the fixture plugins live, and a host that cleans up after itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURE_PLUGINS = Path(__file__).parent / "fixtures" / "plugins"


@pytest.fixture
def plugin_dir() -> Callable[[str], Path]:
    """``plugin_dir("good-1-2")``: the project dir of a fixture plugin (see its README)."""

    def find(name: str) -> Path:
        path = FIXTURE_PLUGINS / name
        assert (path / "pyproject.toml").is_file(), f"no fixture plugin {name!r}"
        return path

    return find


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_host(core_version, **kw)``: a PluginHost on a fresh workspace, closed after."""
    from vcs_conformance.host import PluginHost

    hosts: list[Any] = []

    def make(core_version: str = "1.2.0", **kw: Any) -> Any:
        kw.setdefault("workspace", tmp_path / f"ws{len(hosts)}")
        host = PluginHost(core_version=core_version, **kw)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
