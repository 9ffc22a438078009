"""Running a check body over hypothesis examples, the kit's way.

``ci`` is derandomized with no deadline and no example database, so a
verdict never flakes; ``dev`` and ``nightly`` are random and keep failing
examples in the database between runs; ``--hypothesis-seed`` is honoured.
Edge examples run first, always (see ``_payloads``).

Why a namespaced database: hypothesis keys saved examples by a digest of
the test function's source and signature, and every check runs the same
closure below, so every check of every plugin would share one key (and
replay each other's failures as noise).  Prefixing the keys of the
configured ``ExampleDatabase`` (public API) with the check's own key gives
each (plugin, check) its own entries in the same database.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import hypothesis
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from ._outcome import CheckFailed, CheckResult

_HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example]


def _default_database() -> Any:
    current = hsettings.default
    return current.database if current is not None else None


class NamespacedDatabase(ExampleDatabase):
    """Another database's entries under ``namespace`` + the key hypothesis asks for."""

    def __init__(self, inner: ExampleDatabase, namespace: str) -> None:
        super().__init__()
        self.inner = inner
        self.namespace = namespace
        self._prefix = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:16].encode()

    def key(self, key: bytes) -> bytes:
        return self._prefix + b"." + key

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.key(key), value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(self.key(key))

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.key(key), value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.key(src), self.key(dest), value)

    def __repr__(self) -> str:
        return f"NamespacedDatabase({self.inner!r}, {self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, NamespacedDatabase) and self.inner == other.inner
                and self.namespace == other.namespace)

    def __hash__(self) -> int:
        return hash((NamespacedDatabase, self.namespace))


def is_item_timeout(exc: BaseException) -> bool:
    """pytest-timeout's expiry (SIGALRM), raised wherever the item was."""
    return type(exc).__name__ == "Failed" and "from pytest-timeout" in str(exc)


def _is_timeout(exc: BaseException) -> bool:
    """The host's call timeout, or pytest-timeout's expiry inside the call."""
    if isinstance(exc, CheckFailed):
        error = exc.details.get("error")
        return isinstance(error, dict) and error.get("code") == "timeout"
    return is_item_timeout(exc)


def is_derandomized(profile: str, seed: Hashable | None) -> bool:
    """``ci`` and ``quick`` without ``--hypothesis-seed``: the same examples every run."""
    return profile in ("ci", "quick") and seed is None


def run_examples(*, profile: str, examples: int, seed: Hashable | None, result: CheckResult,
                 strategy: SearchStrategy[Any], body: Callable[[Any], None],
                 edges: Sequence[Any] = (), database_key: str | None = None,
                 plugin_clock: Callable[[], float] | None = None) -> None:
    """Run ``body`` over ``strategy``'s examples (edges first) with the profile's settings.

    ``plugin_clock`` (the plugin's hook seconds so far, as the worker timed
    them) turns each example into a measurement of the kit's own cost: the
    time from the end of the previous example to the end of this one
    (hypothesis generating it, the call, the host's validation) minus what
    the plugin spent.  ``result.kit_seconds`` collects them.

    A call that timed out is not shrunk: each attempt would cost another
    whole call timeout, so the first hang is reported with the input that
    hung, and later examples fail at once without calling the plugin.
    """
    deterministic = is_derandomized(profile, seed)
    database = None if profile in ("ci", "quick") else _default_database()
    if database is not None and database_key is not None:
        database = NamespacedDatabase(database, database_key)
    config = hsettings(
        max_examples=examples,
        derandomize=deterministic,
        database=database,
        deadline=None,
        suppress_health_check=_HEALTH,
        print_blob=False,
        report_multiple_bugs=False,
    )

    last = [time.perf_counter(), plugin_clock() if plugin_clock is not None else 0.0]

    hung: list[BaseException] = []

    def inner(value: Any) -> None:
        if hung:
            raise hung[0]
        result.examples += 1
        try:
            body(value)
        except BaseException as exc:
            if _is_timeout(exc):
                hung.append(exc)
            raise
        finally:
            if plugin_clock is not None:
                now, spent = time.perf_counter(), plugin_clock()
                result.kit_seconds.append(max(0.0, (now - last[0]) - (spent - last[1])))
                last[0], last[1] = now, spent

    test: Any = given(strategy)(inner)
    for edge in reversed(list(edges)):
        test = example(edge)(test)
    test = config(test)
    if seed is not None:
        test = hypothesis.seed(seed)(test)
    try:
        test()
    except Flaky as exc:
        inner_excs = getattr(exc, "exceptions", ())
        first = next((e for e in inner_excs if isinstance(e, CheckFailed)), None)
        if first is not None:
            first.seen += " (not reproducible on a second call: the plugin is flaky)"
            _count(first, result)
            raise first from None
        raise _count(CheckFailed("the same verdict on repeated calls with the same input",
                                 f"flaky behaviour: {exc}"), result) from None
    except BaseException as exc:
        raised = hung[0] if hung else exc
        if isinstance(raised, CheckFailed):
            _count(raised, result)
        if raised is exc:
            raise
        raise raised from None


def _count(exc: CheckFailed, result: CheckResult) -> CheckFailed:
    """A failed check ran examples too: the coverage accounting counts them."""
    exc.details["examples_run"] = result.examples
    return exc
