"""How the kit drives hypothesis (``_checks/_hypo.py``), tested without a plugin.

Why here and not through a whole kit run: the properties are hypothesis'
(which examples run, in which order, under which database key), and a
plain body shows them exactly and in milliseconds.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase

from vcs_conformance._checks import _hypo
from vcs_conformance._checks._hypo import NamespacedDatabase, run_examples
from vcs_conformance._checks._outcome import CheckFailed, CheckResult


def _run(seen: list[int], *, profile: str = "dev", seed: Any = None, key: str = "vcs-p-c",
         fail_above: int | None = None, examples: int = 30) -> CheckResult:
    result = CheckResult()

    def body(value: int) -> None:
        seen.append(value)
        if fail_above is not None and value > fail_above:
            raise CheckFailed(f"values up to {fail_above}", f"{value}", example=value)

    run_examples(profile=profile, examples=examples, seed=seed, result=result,
                 strategy=st.integers(0, 10**6), body=body, database_key=key)
    return result


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> InMemoryExampleDatabase:
    """The database hypothesis' settings would give (the user's profile), in memory."""
    db = InMemoryExampleDatabase()
    monkeypatch.setattr(_hypo, "_default_database", lambda: db)
    return db


def test_dev_profile_saves_the_failure_and_replays_it_first(
        database: InMemoryExampleDatabase) -> None:
    first: list[int] = []
    with pytest.raises(CheckFailed) as failure:
        _run(first, fail_above=1000)
    shrunk = failure.value.example
    assert shrunk == 1001  # hypothesis shrank it
    assert failure.value.details["examples_run"] > 0  # failed checks count their examples
    saved = {k for k, v in database.data.items() if v}
    assert saved and all(k.startswith(NamespacedDatabase(database, "vcs-p-c").key(b""))
                         for k in saved)
    # The next run (same database, same check) tries the saved failure before anything else.
    second: list[int] = []
    with pytest.raises(CheckFailed):
        _run(second, fail_above=1000)
    assert second[0] == shrunk


def test_database_keys_differ_per_check_and_plugin(database: InMemoryExampleDatabase) -> None:
    with pytest.raises(CheckFailed):
        _run([], key="vcs-plugin-a-synthesize-valid", fail_above=1000)
    before = set(database.data)
    # Another check of the same plugin, and the same check of another plugin, start fresh:
    # they neither see the failure above nor share its keys.
    for key in ("vcs-plugin-a-train-valid", "vcs-plugin-b-synthesize-valid"):
        seen: list[int] = []
        _run(seen, key=key, examples=5)
        assert 1001 not in seen
        mine = NamespacedDatabase(database, key).key(b"")
        assert not any(k.startswith(mine) for k in before)
    keys = {NamespacedDatabase(database, k).key(b"x") for k in
            ("vcs-plugin-a-synthesize-valid", "vcs-plugin-a-train-valid",
             "vcs-plugin-b-synthesize-valid")}
    assert len(keys) == 3


def test_ci_profile_uses_no_database(database: InMemoryExampleDatabase) -> None:
    with pytest.raises(CheckFailed):
        _run([], profile="ci", fail_above=1000)
    assert not any(database.data.values())


@pytest.mark.parametrize("seed", [1234, "abc"])
def test_the_same_seed_gives_the_same_examples(seed: Any,
                                              database: InMemoryExampleDatabase) -> None:
    """``--hypothesis-seed`` (an int, or any string, as hypothesis accepts) reproduces a run."""
    a: list[int] = []
    b: list[int] = []
    _run(a, seed=seed, examples=20)
    _run(b, seed=seed, examples=20)
    assert a == b
    other: list[int] = []
    _run(other, seed=f"{seed}-other", examples=20)
    assert other != a


def test_a_hang_is_not_shrunk() -> None:
    """The first timeout is the verdict: no shrinking, each attempt would cost a timeout."""
    calls: list[int] = []

    def body(value: int) -> None:
        calls.append(value)
        if value > 10:
            raise CheckFailed("an answer in time", "no answer within 2 s", example=value,
                              details={"error": {"code": "timeout"}})

    result = CheckResult()
    started = time.perf_counter()
    with pytest.raises(CheckFailed) as failure:
        run_examples(profile="ci", examples=50, seed=None, result=result,
                     strategy=st.integers(0, 10**6), body=body)
    hung_on = [v for v in calls if v > 10]
    assert hung_on == [failure.value.example]  # the plugin saw exactly one hanging call
    assert failure.value.details["examples_run"] == len(calls)
    assert time.perf_counter() - started < 30
