"""The per-call write cap: the meter itself, and the host's use of it at any level."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._workspaces import fresh_workspace
from vcs_conformance._seams import Limits
from vcs_conformance.errors import OutputInvalid, ResourceLimitExceeded
from vcs_conformance.host import PluginHost
from vcs_conformance.sandbox import _written, _written_index
from vcs_conformance.sandbox._written import MAX_DEPTH, WriteMeter


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for area in ("datasets", "cache", "models", "outputs"):
        (root / area).mkdir(parents=True)
    return root


def _limits(mb: int = 1, files: int = 10) -> Limits:
    return Limits(max_written_mb=mb, max_written_files=files)


@pytest.fixture(params=["inotify", "walk-always"])
def meter(request: pytest.FixtureRequest, ws: Path,
          monkeypatch: pytest.MonkeyPatch) -> WriteMeter:
    if request.param == "walk-always":
        monkeypatch.setattr(_written.Inotify, "create", classmethod(lambda cls: None))
    m = WriteMeter(ws)
    request.addfinalizer(m.close)
    return m


def test_growth_within_the_cap_passes(meter: WriteMeter, ws: Path) -> None:
    window = meter.begin(_limits())
    (ws / "outputs" / "a.wav").write_bytes(b"x" * 1000)
    assert window.check() is None


def test_too_many_entries_are_reported_with_where_they_are(meter: WriteMeter, ws: Path) -> None:
    (ws / "cache" / "old").write_text("the user's")
    window = meter.begin(_limits(files=10))
    many = ws / "cache" / "many"
    many.mkdir()
    for i in range(20):
        (many / str(i)).write_text("x")
    overrun = window.check()
    assert overrun is not None
    assert overrun.grown_entries > 10
    assert overrun.where[0][0] == "cache/many"
    assert "max_written_files=10" in overrun.message()
    assert "Nothing was deleted" in overrun.message()
    assert (ws / "cache" / "old").read_text() == "the user's"
    assert len(os.listdir(many)) == 20


def test_too_many_bytes_are_reported(meter: WriteMeter, ws: Path) -> None:
    window = meter.begin(_limits(mb=1))
    (ws / "models" / "big.bin").write_bytes(b"x" * (2 << 20))
    overrun = window.check()
    assert overrun is not None and overrun.grown_bytes >= 2 << 20
    assert "max_written_mb=1" in overrun.message()
    assert overrun.where[0][0] == "models/big.bin"


def test_a_sparse_file_counts_at_its_length(meter: WriteMeter, ws: Path) -> None:
    """Blocks can be filled later through mmap, which raises no inotify event."""
    window = meter.begin(_limits(mb=1))
    with open(ws / "cache" / "sparse", "wb") as handle:
        handle.truncate(8 << 20)
    overrun = window.check()
    assert overrun is not None and overrun.grown_bytes >= 8 << 20


def test_growth_counts_against_the_state_before_the_call(meter: WriteMeter, ws: Path) -> None:
    """What was there before the call, the user's files included, is not the plugin's."""
    for i in range(50):
        (ws / "outputs" / f"before-{i}").write_text("x")
    window = meter.begin(_limits(files=10))
    (ws / "outputs" / "new").write_text("x")
    assert window.check() is None


def test_a_symlinked_directory_is_not_followed(meter: WriteMeter, ws: Path) -> None:
    window = meter.begin(_limits(files=10))
    (ws / "cache" / "usr").symlink_to("/usr")
    (ws / "cache" / "loop").symlink_to(ws / "cache")
    assert window.check() is None


def test_a_tree_too_deep_to_measure_is_an_overrun(meter: WriteMeter, ws: Path) -> None:
    window = meter.begin(_limits(files=10_000))
    path = ws / "cache"
    for _ in range(MAX_DEPTH + 2):
        path = path / "d"
    path.mkdir(parents=True)
    overrun = window.check()
    assert overrun is not None
    assert any(f"nested deeper than {MAX_DEPTH}" in u for u in overrun.unmeasured)


def test_nothing_changed_means_no_walk(ws: Path) -> None:
    meter = WriteMeter(ws)
    try:
        if not meter.uses_inotify:
            pytest.skip("no inotify here: every measurement walks")
        meter.begin(_limits()).check()
        walks = meter.walks
        for _ in range(20):
            meter.begin(_limits()).check()
        assert meter.walks == walks
        (ws / "outputs" / "sub").mkdir()
        (ws / "outputs" / "sub" / "f").write_text("x")
        assert meter.begin(_limits()).check() is None
        assert meter.indexed and meter.walks == walks  # folded in from the events: no walk
        # A write deep in a directory first seen through an event is noticed too.
        (ws / "outputs" / "sub" / "f").write_text("y" * (2 << 20))
        assert meter.begin(_limits(mb=1)).check() is None  # the baseline moved with it
        window = meter.begin(_limits(mb=1))
        (ws / "outputs" / "sub" / "f").write_text("y" * (4 << 20))
        overrun = window.check()
        assert overrun is not None and overrun.where[0][0] == "outputs/sub"
    finally:
        meter.close()


_WRITER = '''
import os


def register(registry):
    def synthesize(text, voice_config):
        if text.startswith(("write ", "tmp ")):
            where = "outputs" if text.startswith("write ") else os.environ["TMPDIR"]
            with open(os.path.join(where, "blob.bin"), "wb") as f:
                f.write(b"x" * int(text.split()[1]))
        return {"error": "not a result"} if text != "quiet" else None
    def init(config):
        return None
    return {"synthesize": synthesize, "init": init}
'''


def _writer_project(root: Path) -> Path:
    pkg = root / "writer_plugin"
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "writer-plugin"\nversion = "0.1.0"\n'
        '[project.entry-points."vcs.plugins"]\nwriter-plugin = "writer_plugin.plugin"\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(_WRITER)
    (pkg / "vcs_plugin.yaml").write_text(
        'name: writer-plugin\nversion: "0.1.0"\ndescription: "writes bytes"\n'
        'api_version: "1.2"\n')
    return root


def test_the_host_stops_a_call_that_writes_past_the_cap(tmp_path: Path) -> None:
    """At every level (here ``off``): the write cap is the host's, not the sandbox's."""
    project = _writer_project(tmp_path / "project")
    with PluginHost(workspace=tmp_path / "ws", limits=_limits(mb=1, files=100)) as host:
        plugin = host.load(project)
        plugin.init({})
        assert plugin.last_call is not None
        first_pid = plugin.last_call.worker_pid
        with pytest.raises(ResourceLimitExceeded) as caught:
            plugin.synthesize(f"write {3 << 20}")
        assert caught.value.limit == "disk"
        assert "outputs/blob.bin" in caught.value.message
        assert (host.workspace.root / "outputs" / "blob.bin").stat().st_size == 3 << 20
        # Stopped, and the next call gets a fresh worker that answers.
        assert plugin.init({}) is None
        assert plugin.last_call.worker_pid not in (None, first_pid)
        walks = host.write_meter.walks
        for _ in range(5):
            plugin.init({})
        if host.write_meter.uses_inotify:
            assert host.write_meter.walks == walks  # calls that write nothing walk nothing


def test_the_workers_own_temp_dir_counts_too(tmp_path: Path) -> None:
    """TMPDIR is a host directory bound into the sandbox: it must not fill the disk either."""
    project = _writer_project(tmp_path / "project")
    with PluginHost(workspace=tmp_path / "ws", limits=_limits(mb=1, files=100)) as host:
        plugin = host.load(project)
        with pytest.raises(OutputInvalid):  # within the cap: only the output is wrong
            plugin.synthesize(f"tmp {100 << 10}")
        with pytest.raises(ResourceLimitExceeded) as caught:
            plugin.synthesize(f"tmp {3 << 20}")
        assert caught.value.limit == "disk"
        assert "worker temp dirs (TMPDIR) grew by" in caught.value.message
        assert caught.value.details["written"]["where"][0][0].startswith("worker-")
        assert plugin.init({}) is None


# -- the index between walks: always what a fresh walk would say -----------------------

def _fresh(ws: Path) -> tuple[int, int, dict[str, tuple[int, int]], set[str]]:
    other = WriteMeter(ws)
    try:
        t = other.measure()
        return t.entries, t.bytes, t.by_top, t.unmeasured
    finally:
        other.close()


_OPS = st.lists(st.tuples(
    st.sampled_from(["file", "grow", "mkdir", "rmtree", "move", "symlink", "delete", "deep",
                     "many"]),
    st.sampled_from(["cache", "models", "outputs"]), st.integers(0, 5), st.integers(0, 5)),
    min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_OPS, min_size=1, max_size=4))
def test_the_index_always_agrees_with_a_fresh_walk(tmp_path: Path,
                                                   batches: list[list[tuple[str, str, int, int]]]
                                                   ) -> None:
    """Files, growth, new and deleted trees, renamed directories, symlinks, deep nests:
    after each batch the updated totals equal those of a walk from scratch."""
    import shutil

    ws = fresh_workspace(tmp_path)
    meter = WriteMeter(ws)
    try:
        meter.measure()
        for batch in batches:
            for op, area, a, b in batch:
                base = ws / area / f"d{a % 3}"
                target = base / f"f{b}" if a % 2 else ws / area / f"f{b}"
                if op == "file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(b"x" * (b * 3000))
                elif op == "grow" and target.is_file() and not target.is_symlink():
                    with open(target, "ab") as handle:
                        handle.write(b"y" * 70_000)
                elif op == "mkdir":
                    (base / f"s{b}").mkdir(parents=True, exist_ok=True)
                elif op == "rmtree":
                    shutil.rmtree(base, ignore_errors=True)
                elif op == "move" and base.is_dir():
                    dest = ws / area / f"d{(a + 1) % 3}"
                    if not dest.exists():
                        base.rename(dest)
                elif op == "symlink" and not target.exists() and not target.is_symlink():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.symlink_to(ws)
                elif op == "delete" and (target.is_file() or target.is_symlink()):
                    target.unlink()
                elif op == "many":  # enough names that the directory itself grows
                    base.mkdir(parents=True, exist_ok=True)
                    for i in range(40 * (b + 1)):
                        (base / f"a-rather-long-file-name-so-the-directory-grows-{i}").touch()
                elif op == "deep":
                    path = base
                    for _ in range(MAX_DEPTH + 1 + b % 2):
                        path = path / "n"
                    path.mkdir(parents=True, exist_ok=True)
            now = meter.measure()
            assert (now.entries, now.bytes, now.by_top, now.unmeasured) == _fresh(ws)
    finally:
        meter.close()


def test_more_directories_than_the_index_keeps_still_measure_right(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_written_index, "MAX_DIRS", 8)
    meter = WriteMeter(ws)
    try:
        meter.measure()
        window = meter.begin(_limits(files=50))
        for i in range(20):
            (ws / "cache" / f"d{i}").mkdir()
            (ws / "cache" / f"d{i}" / "f").write_text("x")
        overrun = window.check()
        assert not meter.indexed
        assert overrun is None and meter.measure().entries == 40 == _fresh(ws)[0]
        (ws / "cache" / "d3" / "g").write_text("y")
        assert meter.measure().entries == 41
    finally:
        meter.close()


def test_an_event_queue_overflow_falls_back_to_a_walk(ws: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    meter = WriteMeter(ws)
    try:
        if not meter.uses_inotify:
            pytest.skip("no inotify here")
        meter.measure()
        walks = meter.walks
        monkeypatch.setattr(_written_index.Inotify, "events", lambda self: (
            os.read(self.fd, 65536), None)[1])
        (ws / "outputs" / "a").write_text("x")
        assert meter.measure().entries == 1
        assert meter.walks == walks + 1
    finally:
        meter.close()
