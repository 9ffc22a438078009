"""Every way a plugin can fail reaches exactly one error class, and the host goes on.

One ``chaos`` fixture plugin misbehaves on request; every test asks for one
fault, checks the error class (and what its message names), then makes a
normal call on the *same* host and plugin, which must succeed (a dead
worker is respawned).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance._host_conn import LOG_LIMIT
from vcs_conformance._seams import Limits
from vcs_conformance.errors import (
    HookError,
    InvalidInputRejected,
    OutputInvalid,
    PluginCrashed,
    PluginTimeout,
    ProtocolError,
    ResourceLimitExceeded,
    VCSError,
)
from vcs_conformance.host import PluginHost
from vcs_conformance.workspace import DatasetRow, expected_dataset, write_dataset

CHAOS = Path(__file__).parent / "fixtures" / "plugins" / "chaos"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginHost]:
    # The chaos plugin asks for 5 s per call; 2 s keeps the hang test short.
    with PluginHost(workspace=tmp_path_factory.mktemp("chaos-ws"),
                    max_limits=Limits(timeout_seconds=2.0)) as h:
        yield h


@pytest.fixture(scope="module")
def plugin(host: PluginHost) -> Any:
    return host.load(CHAOS)


def _next_call_works(plugin: Any) -> None:
    result = plugin.synthesize("A normal sentence.")
    assert result["audio"].startswith("outputs/")
    assert result["sample_rate"] == 16000


FAULTS = [
    ("raise-runtime", HookError, "RuntimeError: the plugin broke on purpose"),
    ("sys-exit", HookError, "SystemExit"),
    ("raise-value", InvalidInputRejected, "voice_config.voice: no such voice"),
    ("raise-memory", ResourceLimitExceeded, "out of memory"),
    ("exit", PluginCrashed, "exited with code 3"),
    ("file-size", ResourceLimitExceeded, "max_file_size_mb limit"),
    ("segfault", PluginCrashed, "SIGSEGV"),
    ("hang", PluginTimeout, "no answer within 2 s"),
    ("garbage", ProtocolError, "not JSON"),
    ("oversized", ProtocolError, "above the"),
    ("nan", OutputInvalid, "NaN"),
    ("bytes", OutputInvalid, "bytes"),
    ("dotdot", OutputInvalid, "/audio: 'outputs/../outputs/"),
    ("absolute", OutputInvalid, "is absolute"),
    ("outside-area", OutputInvalid, "outside outputs/"),
    ("missing", OutputInvalid, "does not exist"),
    ("symlink-out", OutputInvalid, "symlink out of the workspace"),
    ("symlink-area", OutputInvalid, "resolves to cache/"),
    ("wav-rate", OutputInvalid, "16000 Hz header but the Result says sample_rate 22050"),
    ("wav-length", OutputInvalid, "tolerance 10 ms"),
    ("silent", OutputInvalid, "all silence"),
]


@pytest.mark.parametrize(("behaviour", "error", "text"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_its_error_class_and_host_goes_on(plugin: Any, behaviour: str,
                                                      error: type[VCSError], text: str) -> None:
    with pytest.raises(error) as info:
        plugin.synthesize(behaviour)
    exc = info.value
    assert type(exc) is error
    assert text in exc.message
    assert exc.plugin == "vcs-fixture-chaos" and exc.hook == "synthesize"
    assert plugin.last_call.error == exc.code
    _next_call_works(plugin)


def test_hook_error_carries_the_remote_traceback(plugin: Any) -> None:
    with pytest.raises(HookError) as info:
        plugin.synthesize("raise-runtime")
    assert info.value.remote_type == "RuntimeError"
    assert "plugin.py" in info.value.remote_traceback
    assert "plugin traceback" in info.value.story()


def test_crash_quotes_what_the_plugin_printed(plugin: Any) -> None:
    plugin.synthesize("print")
    with pytest.raises(PluginCrashed) as info:
        plugin.synthesize("exit")
    assert info.value.exit_code == 3
    assert "a line the plugin printed" in info.value.log_tail
    _next_call_works(plugin)


def test_stdout_flood_is_bounded_and_harmless(plugin: Any) -> None:
    _next_call_works(plugin)
    assert plugin.synthesize("flood")["audio"]
    tail = plugin.log_tail()
    assert len(tail.encode()) <= LOG_LIMIT
    assert tail.endswith("END-OF-FLOOD\n")
    _next_call_works(plugin)


def _train(host: PluginHost, plugin: Any, text: str, name: str) -> tuple[Any, list[Any]]:
    rel = write_dataset(host.workspace, name, [DatasetRow("p1", text, sample_rate=8000,
                                                          duration_s=0.1)])
    events: list[Any] = []
    value = plugin.train(expected_dataset(host.workspace, rel),
                         on_progress=lambda *a: events.append(a))
    return value, events


@pytest.mark.parametrize(("behaviour", "text"), [
    ("backwards", "went backwards from 50.0 to 40.0"),
    ("no-100", "not 100"),
    ("progress-nan", "NaN"),
    ("progress-status", "status must be a string of 1-200 characters"),
    ("model-outside", "/model: 'cache/"),
])
def test_bad_training_output_is_output_invalid(host: PluginHost, plugin: Any, behaviour: str,
                                               text: str) -> None:
    with pytest.raises(OutputInvalid) as info:
        _train(host, plugin, behaviour, f"ds-{behaviour}")
    assert text in info.value.message
    model, events = _train(host, plugin, "fine", f"ok-{behaviour}")
    assert model["model"].startswith("models/") and events == [(100.0, "done")]


def test_progress_reaches_the_caller_while_train_runs(host: PluginHost, plugin: Any) -> None:
    # The plugin waits for cache/<id>-<step> after each event; only a callback that
    # runs during the call can create it, so the call succeeds only if events stream.
    def ack(percent: float, status: str) -> None:
        step = int(percent // 25)
        (host.workspace.cache / f"hs1-{step}").touch()

    rel = write_dataset(host.workspace, "handshake", [DatasetRow("hs1", "handshake")])
    model = plugin.train(expected_dataset(host.workspace, rel), on_progress=ack)
    assert model["model"].startswith("models/")
    assert [e[0] for e in plugin.last_call.progress] == [25.0, 50.0, 75.0, 100.0]


def test_plugin_log_records_reach_host_logging(plugin: Any, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="vcs_conformance"):
        plugin.synthesize("log")
    records = [r for r in caplog.records if "a warning from the plugin: hello" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].vcs_plugin == "vcs-fixture-chaos"


def test_registry_is_read_only(plugin: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="vcs_conformance"):
        assert plugin.synthesize("registry")["audio"]
    assert any("registry is read-only" in r.getMessage() and "'locale': 'en_US'" in
               r.getMessage() for r in caplog.records)


def test_leftover_process_is_recorded(plugin: Any) -> None:
    plugin.synthesize("spawn")
    leftovers = plugin.last_call.leftover_pids
    try:
        assert leftovers, "the sleeping child should be reported"
    finally:
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _next_call_works(plugin)
    assert plugin.last_call.leftover_pids == []


@pytest.mark.parametrize("kind", ["nap", "nap-then-value-error"])
def test_the_worker_times_the_hook_itself(plugin: Any, kind: str) -> None:
    """``CallRecord.plugin_seconds`` is the hook's own time, measured in the worker: the
    plugin's share of a call, so reports can tell it from the kit's (answer or error)."""
    if kind == "nap":
        plugin.synthesize(kind)
    else:
        with pytest.raises(InvalidInputRejected):
            plugin.synthesize(kind)
    record = plugin.last_call
    assert record is not None and record.plugin_seconds is not None
    assert 0.25 <= record.plugin_seconds <= record.seconds
    plugin.synthesize("A normal sentence.")
    assert plugin.last_call.plugin_seconds < 0.25
