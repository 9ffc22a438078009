"""The hygiene check's view of the workspace outside the read-write areas.

A write there must show up in the next snapshot however it was made (new
file, same-size overwrite with the old modification time put back, mode
change); writes in ``cache/``, ``models/``, ``outputs/`` never count; and a
call that changed nothing must not cost a walk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._workspaces import fresh_workspace
from vcs_conformance._checks._rowatch import FULL_WALK_EVERY, ReadOnlyWatch, walk


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for area in ("cache", "models", "outputs", "datasets/ds1/wavs"):
        (tmp_path / area).mkdir(parents=True)
    (tmp_path / "datasets/ds1/metadata.csv").write_text("a|Hello\n")
    (tmp_path / "datasets/ds1/wavs/a.wav").write_bytes(b"RIFF" + bytes(40))
    return tmp_path


def test_walk_sees_everything_but_the_read_write_areas(ws: Path) -> None:
    (ws / "outputs/x.wav").write_bytes(b"x")
    (ws / "models/m.bin").write_bytes(b"m")
    assert set(walk(ws)) == {"cache", "models", "outputs", "datasets", "datasets/ds1",
                             "datasets/ds1/metadata.csv", "datasets/ds1/wavs",
                             "datasets/ds1/wavs/a.wav"} - {"cache", "models", "outputs"}


def _changes(watch: ReadOnlyWatch, act: Callable[[], object]) -> set[str]:
    before = watch.current()
    act()
    after = watch.current()
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def test_writes_outside_the_read_write_areas_are_seen(ws: Path) -> None:
    watch = ReadOnlyWatch(ws)
    wav = ws / "datasets/ds1/wavs/a.wav"
    stat = wav.stat()

    def overwrite_and_hide() -> None:  # same size, modification time put back
        wav.write_bytes(b"RIFX" + bytes(40))
        os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert _changes(watch, overwrite_and_hide) == {"datasets/ds1/wavs/a.wav"}
    assert _changes(watch, lambda: (ws / "stray.txt").write_text("x")) == {"stray.txt"}
    assert _changes(watch, lambda: (ws / "datasets/ds1/metadata.csv").chmod(0o600)) == {
        "datasets/ds1/metadata.csv"}
    assert _changes(watch, (ws / "datasets/ds1/metadata.csv").unlink) == {
        "datasets/ds1/metadata.csv", "datasets/ds1"}
    watch.close()


def test_read_write_areas_and_quiet_calls_cost_no_walk(ws: Path) -> None:
    watch = ReadOnlyWatch(ws)
    if not watch.uses_inotify:
        pytest.skip("no inotify here: every snapshot walks (correct, slower)")
    first = watch.current()
    for i in range(FULL_WALK_EVERY - 1):
        (ws / "outputs" / f"{i}.wav").write_bytes(b"x")
        assert watch.current() is first
    assert watch.walks == 1
    watch.current()  # the periodic walk, for writes no event reports (mmap)
    assert watch.walks == 2
    (ws / "datasets/ds2/wavs").mkdir(parents=True)  # the kit writing a new dataset
    (ws / "datasets/ds2/wavs/b.wav").write_bytes(b"x")
    assert {"datasets/ds2", "datasets/ds2/wavs/b.wav"} <= set(watch.current())
    assert watch.walks == 2  # folded in from the events: only the new directory was walked
    (ws / "datasets/ds2/late.txt").write_text("x")  # inside a directory seen after the start
    assert "datasets/ds2/late.txt" in watch.current()
    assert watch.current() == walk(ws)
    watch.close()


_OPS = st.lists(st.tuples(st.sampled_from(["file", "append", "mkdir", "rmtree", "move",
                                           "replace", "chmod", "delete", "area"]),
                          st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_OPS, min_size=1, max_size=4))
def test_the_snapshot_kept_from_events_always_equals_a_walk(
        tmp_path: Path, batches: list[list[tuple[str, int, int]]]) -> None:
    """Whatever happens between two snapshots (files, trees made, removed, renamed or
    replaced by another of the same name, modes, writes in the read-write areas), the
    snapshot updated from the events is exactly what a walk sees."""
    import shutil

    ws = fresh_workspace(tmp_path)
    watch = ReadOnlyWatch(ws)
    try:
        watch.current()
        for batch in batches:
            for op, a, b in batch:
                base = ws / "datasets" / f"d{a}"
                target = base / f"f{b}"
                if op == "file":
                    base.mkdir(exist_ok=True)
                    target.write_bytes(b"x" * b)
                elif op == "append" and target.is_file():
                    with open(target, "ab") as handle:
                        handle.write(b"more")
                elif op == "mkdir":
                    (base / f"s{b}").mkdir(parents=True, exist_ok=True)
                elif op == "rmtree":
                    shutil.rmtree(base, ignore_errors=True)
                elif op == "move" and base.is_dir() and not (ws / "datasets" / f"m{b}").exists():
                    base.rename(ws / "datasets" / f"m{b}")
                elif op == "replace":  # same name, another directory
                    shutil.rmtree(base, ignore_errors=True)
                    (base / "new").mkdir(parents=True)
                elif op == "chmod" and target.is_file():
                    target.chmod(0o600 if b % 2 else 0o644)
                elif op == "delete" and target.is_file():
                    target.unlink()
                elif op == "area":
                    (ws / "outputs" / f"o{a}{b}").write_bytes(b"o")
            assert watch.current() == walk(ws)
    finally:
        watch.close()


def test_without_inotify_every_snapshot_walks(ws: Path) -> None:
    watch = ReadOnlyWatch(ws)
    watch.close()
    assert not watch.uses_inotify
    assert _changes(watch, lambda: (ws / "stray.txt").write_text("x")) == {"stray.txt"}
    watch.current()
    assert watch.walks == 3
