"""register(registry): the hook table a host sees, and state kept per registry."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeRegistry

from vcs_example_espeak import plugin

Hooks = dict[str, Callable[..., Any]]
ARITY = {"init": 1, "preprocess": 1, "train": 2, "synthesize": 2}


def test_register_returns_the_four_hooks_with_their_arity(hooks: Hooks) -> None:
    assert set(hooks) == set(ARITY)
    for name, hook in hooks.items():
        params = inspect.signature(hook).parameters.values()
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params), name
        assert len(params) == ARITY[name], name


def test_init_rejects_invalid_config_and_keeps_the_old_one(hooks: Hooks) -> None:
    assert hooks["init"]({"default_sample_rate": 8000}) is None
    with pytest.raises(ValueError, match=r"config\.amplitude must be from 10 to 200"):
        hooks["init"]({"amplitude": 500})
    with pytest.raises(ValueError, match="config must be an object"):
        hooks["init"](None)
    assert hooks["synthesize"]("a", {})["sample_rate"] == 8000


def test_two_registrations_do_not_share_state(tmp_path: Path) -> None:
    one = plugin.register(FakeRegistry(tmp_path, tmp_path))
    two = plugin.register(FakeRegistry(tmp_path, tmp_path))
    one["init"]({"default_sample_rate": 8000})
    assert two["synthesize"]("a", {})["sample_rate"] == 22050


def test_registering_touches_nothing(tmp_path: Path) -> None:
    plugin.register(FakeRegistry(tmp_path, tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_plugin_imports_only_the_standard_library() -> None:
    """Its dependency list is empty, so anything else would fail in the isolated env."""
    src = Path(plugin.__file__).resolve().parents[1]
    code = (f"import sys; sys.path.insert(0, {str(src)!r}); before = set(sys.modules); "
            "import vcs_example_espeak.plugin, vcs_example_espeak._calibrate; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    tops = {name.split(".")[0] for name in out} - {"vcs_example_espeak"}
    assert "subprocess" in tops  # the probe works
    assert tops <= set(sys.stdlib_module_names), tops - set(sys.stdlib_module_names)
