"""Running a check body over hypothesis examples, the kit's way.

``ci`` is derandomized with no deadline and no example database, so a
verdict never flakes; ``dev`` and ``nightly`` are random and keep failing
examples in the database between runs; ``--hypothesis-seed`` is honoured.
Edge examples run first, always (see ``_payloads``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import hypothesis
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from ._outcome import CheckFailed, CheckResult

_HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example]


def _default_database() -> Any:
    current = hsettings.default
    return current.database if current is not None else None


def run_examples(*, profile: str, examples: int, seed: int | None, result: CheckResult,
                 strategy: SearchStrategy[Any], body: Callable[[Any], None],
                 edges: Sequence[Any] = (), database_key: str | None = None,
                 plugin_clock: Callable[[], float] | None = None) -> None:
    """Run ``body`` over ``strategy``'s examples (edges first) with the profile's settings.

    ``plugin_clock`` (the plugin's hook seconds so far, as the worker timed
    them) turns each example into a measurement of the kit's own cost: the
    time from the end of the previous example to the end of this one
    (hypothesis generating it, the call, the host's validation) minus what
    the plugin spent.  ``result.kit_seconds`` collects them.
    """
    deterministic = profile in ("ci", "quick") and seed is None
    config = hsettings(
        max_examples=examples,
        derandomize=deterministic,
        database=None if profile in ("ci", "quick") else _default_database(),
        deadline=None,
        suppress_health_check=_HEALTH,
        print_blob=False,
        report_multiple_bugs=False,
    )

    last = [time.perf_counter(), plugin_clock() if plugin_clock is not None else 0.0]

    def inner(value: Any) -> None:
        result.examples += 1
        try:
            body(value)
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
    if database_key is not None:
        test.hypothesis.inner_test.__qualname__ = database_key  # stable db key per check
    try:
        test()
    except Flaky as exc:
        inner_excs = getattr(exc, "exceptions", ())
        first = next((e for e in inner_excs if isinstance(e, CheckFailed)), None)
        if first is not None:
            first.seen += " (not reproducible on a second call: the plugin is flaky)"
            raise first from None
        raise CheckFailed("the same verdict on repeated calls with the same input",
                          f"flaky behaviour: {exc}") from None
