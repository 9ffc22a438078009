"""The reference host end to end with fixture plugins: native, shimmed, incompatible, loading."""

from __future__ import annotations

import logging
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance import wav
from vcs_conformance._seams import Limits
from vcs_conformance.errors import (
    IncompatiblePlugin,
    InvalidInputRejected,
    ManifestError,
    PluginLoadError,
    VCSCompatibilityWarning,
)
from vcs_conformance.workspace import DatasetRow, expected_dataset, write_dataset

ROWS = [DatasetRow("a1", "Hello there.", sample_rate=16000, duration_s=0.3),
        DatasetRow("a2", "General Kenobi.", sample_rate=16000, duration_s=0.4)]


def _pipeline(host: Any, plugin: Any) -> tuple[Any, Any, list[tuple[Any, ...]], Any]:
    rel = write_dataset(host.workspace, "ds", ROWS)
    dataset = plugin.preprocess(rel)
    events: list[tuple[Any, ...]] = []
    model = plugin.train(dataset, on_progress=lambda *a: events.append(a))
    result = plugin.synthesize("Speak this.", {"model": model["model"]})
    return dataset, model, events, result


@pytest.mark.parametrize(("fixture", "core"), [("good-1-0", "1.0.0"), ("good-1-1", "1.1.0"),
                                                ("good-1-2", "1.2.0")])
def test_native_plugin_sees_and_returns_its_own_api(make_host: Any, plugin_dir: Any,
                                                     fixture: str, core: str) -> None:
    host = make_host(core)
    plugin = host.load(plugin_dir(fixture))
    assert plugin.decision.kind == "native"
    assert set(plugin.hooks) == {"init", "preprocess", "train", "synthesize"}
    dataset, model, events, result = _pipeline(host, plugin)
    assert [i["id"] for i in dataset["items"]] == ["a1", "a2"]
    assert ("duration_s" in dataset["items"][0]) == (core == "1.2.0")
    assert model["model"].startswith("models/")
    if core == "1.0.0":
        assert events == [(50.0,), (100.0,)]  # core 1.0's callback takes one argument
        assert isinstance(result, str) and result.startswith("outputs/")
    else:
        assert events == [(50.0, "item 1 of 2"), (100.0, "item 2 of 2")]
        info = wav.read_info(host.workspace.root / result["audio"])
        assert info.sample_rate == result["sample_rate"]


@pytest.mark.parametrize(("fixture", "window", "chain"), [
    ("good-1-1", 1, ("1.1", "1.2")),
    ("good-1-0", 2, ("1.0", "1.1", "1.2")),
])
def test_shimmed_plugin_gives_core_shapes(make_host: Any, plugin_dir: Any, fixture: str,
                                          window: int, chain: tuple[str, ...]) -> None:
    host = make_host("1.2.0", shim_window=window)
    plugin = host.load(plugin_dir(fixture))
    assert plugin.decision.kind == "shim" and plugin.decision.chain == chain
    dataset, _, events, result = _pipeline(host, plugin)
    # 1.1 -> 1.2: items gain duration_s from their WAV headers.
    assert dataset == expected_dataset(host.workspace, "datasets/ds")
    if chain[0] == "1.0":
        assert events == [(50.0, "running"), (100.0, "running")]
    else:
        assert events == [(50.0, "item 1 of 2"), (100.0, "item 2 of 2")]
    # 1.0 -> 1.1: the bare path became a Result read from the WAV header.
    info = wav.read_info(host.workspace.root / result["audio"])
    assert result["sample_rate"] == info.sample_rate
    assert abs(result["duration_s"] - info.duration_s) < 1e-9
    # 1.1 -> 1.2: the core's ``rate`` reaches the plugin as ``speed``.
    slow = plugin.synthesize("The same sentence twice.", {"rate": 0.5})
    fast = plugin.synthesize("The same sentence twice.", {"rate": 2.0})
    assert slow["duration_s"] > 3 * fast["duration_s"]


def test_shim_rejects_dataset_missing_a_key_the_core_requires(make_host: Any,
                                                              plugin_dir: Any) -> None:
    host = make_host("1.2.0")
    plugin = host.load(plugin_dir("good-1-1"))
    dataset = expected_dataset(host.workspace, write_dataset(host.workspace, "ds", ROWS))
    del dataset["items"][1]["duration_s"]
    with pytest.raises(InvalidInputRejected, match=r"items\[1\]\.duration_s is missing"):
        plugin.train(dataset)
    assert plugin.train(expected_dataset(host.workspace, "datasets/ds"))["model"]


def test_one_point_one_plugin_reading_rate_never_sees_it(make_host: Any, plugin_dir: Any,
                                                          caplog: Any) -> None:
    host = make_host("1.2.0")
    plugin = host.load(plugin_dir("reads-rate-1-1"))
    with caplog.at_level(logging.INFO, logger="vcs_conformance"):
        slow = plugin.synthesize("Some words to say.", {"rate": 0.5, "pitch": 1.0})
        fast = plugin.synthesize("Some words to say.", {"rate": 2.0})
    keys = [r.getMessage() for r in caplog.records if "voice_config keys" in r.getMessage()]
    assert keys == ["voice_config keys: ['pitch', 'speed']", "voice_config keys: ['speed']"]
    assert slow["duration_s"] == fast["duration_s"]  # the speed never reached it


def test_incompatible_plugin_warns_and_raises_without_importing(make_host: Any,
                                                                plugin_dir: Any) -> None:
    host = make_host("1.2.0")
    with pytest.warns(VCSCompatibilityWarning, match="core_version"), \
            pytest.raises(IncompatiblePlugin) as info:
        host.load(plugin_dir("needs-core-2"))
    assert info.value.rule == "core-version-excluded"
    assert info.value.code == "incompatible"
    with pytest.warns(VCSCompatibilityWarning), pytest.raises(IncompatiblePlugin) as info:
        host.load(plugin_dir("good-1-0"))  # window 1: 1.0 is too old for core 1.2
    assert info.value.rule == "too-old-for-window"
    assert "1.0" in info.value.message and "1.2" in info.value.message
    assert host.load(plugin_dir("good-1-2")).synthesize("Still works.")["audio"]


def test_newer_plugin_on_older_core_is_incompatible(make_host: Any, plugin_dir: Any) -> None:
    host = make_host("1.1.0")
    with pytest.warns(VCSCompatibilityWarning), pytest.raises(IncompatiblePlugin) as info:
        host.load(plugin_dir("good-1-2"))
    assert info.value.rule == "needs-newer-core"


def test_manifest_error_names_the_field(make_host: Any, plugin_dir: Any) -> None:
    with pytest.raises(ManifestError) as info:
        make_host().load(plugin_dir("bad-manifest"))
    assert any("api_version" in p.pointer for p in info.value.problems)


@pytest.mark.parametrize(("fixture", "stage", "text"), [
    ("import-error", "import", "vcs_fixture_this_module_does_not_exist"),
    ("register-raises", "register", "register failed on purpose"),
    ("bad-hooks", "hooks", "unknown hook 'synthesise'"),
])
def test_load_failures_name_the_stage(make_host: Any, plugin_dir: Any, fixture: str,
                                      stage: str, text: str) -> None:
    host = make_host()
    with pytest.raises(PluginLoadError) as info:
        host.load(plugin_dir(fixture))
    assert info.value.details["stage"] == stage
    assert text in info.value.message
    assert host.load(plugin_dir("good-1-2")).synthesize("The host goes on.")["audio"]


def test_bad_hooks_lists_every_problem(make_host: Any, plugin_dir: Any) -> None:
    with pytest.raises(PluginLoadError) as info:
        make_host().load(plugin_dir("bad-hooks"))
    message = info.value.message
    assert "'train' is a str, not callable" in message
    assert "'preprocess' cannot take 1 positional argument" in message


def test_unknown_handle_is_a_load_error(make_host: Any, tmp_path: Path) -> None:
    host = make_host()
    with pytest.raises(PluginLoadError, match="no installed distribution"):
        host.load("vcs-no-such-plugin-anywhere")
    with pytest.raises(PluginLoadError, match="no such file or directory"):
        host.load(str(tmp_path / "missing.whl"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginLoadError, match=r"pyproject\.toml"):
        host.load(tmp_path / "empty")


def _build_wheel(project: Path, package: str, dist: str, out: Path) -> Path:
    wheel = out / f"{dist.replace('-', '_')}-0.1.0-py3-none-any.whl"
    info = f"{dist.replace('-', '_')}-0.1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in sorted((project / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(project).as_posix())
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\n"
                    "Version: 0.1.0\n")
        zf.writestr(f"{info}/entry_points.txt",
                    f"[vcs.plugins]\n{dist} = {package}.plugin\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_wheel_and_sdist_handles(make_host: Any, plugin_dir: Any, tmp_path: Path) -> None:
    project = plugin_dir("good-1-1")
    wheel = _build_wheel(project, "vcs_fixture_good11", "vcs-fixture-good11", tmp_path)
    sdist = tmp_path / "vcs_fixture_good11-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        tf.add(project, arcname="vcs_fixture_good11-0.1.0",
               filter=lambda t: None if "__pycache__" in t.name else t)
    host = make_host("1.1.0")
    for handle in (wheel, sdist):
        plugin = host.load(handle)
        assert plugin.manifest.name == "vcs-fixture-good11"
        assert plugin.synthesize("From a package.", {"speed": 1.5})["audio"]


def test_installed_name_is_found_by_the_workers_importlib_metadata(
        make_host: Any, plugin_dir: Any, tmp_path: Path) -> None:
    from vcs_conformance._seams import PluginEnv

    wheel = _build_wheel(plugin_dir("good-1-2") / "src", "vcs_fixture_good12",
                         "vcs-fixture-good12", tmp_path)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)

    class SitePackages:
        """An env whose import roots hold the unpacked wheel, as a venv's site-packages."""

        def prepare(self, handle: Any, *, scratch: Path) -> PluginEnv:
            import sys
            return PluginEnv(python=Path(sys.executable), readonly_paths=(site,),
                             sys_path=(site,), entry_point=str(handle))

    host = make_host(env_provider=SitePackages())
    for handle in ("vcs-fixture-good12", "vcs_fixture_good12"):  # PEP 503 spellings
        plugin = host.load(handle)
        assert plugin.manifest.path is not None
        assert plugin.synthesize("Found by name.")["audio"]


def test_worker_environment_is_scrubbed(make_host: Any, plugin_dir: Any,
                                        monkeypatch: Any) -> None:
    monkeypatch.setenv("VCS_TEST_SECRET_TOKEN", "hunter2")
    plugin = make_host().load(plugin_dir("chaos"))
    assert plugin.synthesize("env")["audio"]


def test_dead_worker_respawns_and_init_is_replayed(make_host: Any, plugin_dir: Any) -> None:
    host = make_host()
    plugin = host.load(plugin_dir("good-1-2"))
    plugin.init({"speaker": "x"})
    first = plugin.last_call.worker_pid
    os.kill(first, 9)
    plugin._conn.process.wait(5)  # dead *between* calls, as after an OOM kill
    assert plugin.synthesize("After a crash.")["audio"]
    assert plugin.last_call.worker_pid != first
    assert plugin.hooks == ("init", "preprocess", "synthesize", "train")


def test_manifest_timeout_is_clamped_to_the_host_maximum(make_host: Any,
                                                         plugin_dir: Any) -> None:
    host = make_host(max_limits=Limits(timeout_seconds=2.0))
    plugin = host.load(plugin_dir("chaos"))  # asks for 5 s
    assert plugin.limits.timeout_seconds == 2.0
    assert make_host().load(plugin_dir("chaos")).limits.timeout_seconds == 5.0


def test_calling_a_hook_the_plugin_lacks_is_a_caller_error(make_host: Any,
                                                           plugin_dir: Any) -> None:
    plugin = make_host().load(plugin_dir("chaos"))
    with pytest.raises(ValueError, match="provides no 'preprocess' hook"):
        plugin.preprocess("datasets/x")
    with pytest.raises(ValueError, match="not strict JSON"):
        plugin.synthesize("Hi", {"rate": float("nan")})
    assert plugin.synthesize("Hi")["audio"]
