"""Cost of schema-generated strategies vs the hand-written hypothesis equivalent.

Run: ``python benchmarks/bench_strategies.py [--examples N] [--runs R]``.

For a Result-like and a voice_config-like schema, the median (over R runs)
time per drawn example through ``@given`` of
``vcs_conformance._schema_strategies.from_schema`` is compared with
``st.fixed_dictionaries`` written by hand for the same shapes, measured in
the same process and run; the table prints both and their ratio.  Both
sides pay the same ``@given`` overhead, so the ratio is the generator's own
cost.  (The schema side also mixes in long strings, which the hand-written
side does not: that is part of what it buys.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from vcs_conformance._schema_strategies import from_schema

AUDIO = r"^outputs/[a-z0-9_]{1,32}\.wav$"
PATH = r"^[a-z0-9_]+(/[a-z0-9_.-]+)*$"

RESULT_SCHEMA = {
    "type": "object", "required": ["audio", "sample_rate", "duration_s"],
    "properties": {
        "audio": {"type": "string", "pattern": AUDIO},
        "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 48000},
        "duration_s": {"type": "number", "minimum": 0},
    },
}
RESULT_HAND = st.fixed_dictionaries({
    "audio": st.from_regex(AUDIO, fullmatch=True),
    "sample_rate": st.integers(8000, 48000),
    "duration_s": st.floats(min_value=0, allow_nan=False, allow_infinity=False),
})

VOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "model": {"oneOf": [{"type": "string", "pattern": PATH}, {"type": "null"}]},
        "voice": {"type": "string", "minLength": 1},
        "rate": {"type": "number", "minimum": 0.25, "maximum": 4.0},
        "pitch": {"type": "number", "minimum": -12.0, "maximum": 12.0},
        "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 48000},
    },
}
VOICE_HAND = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.from_regex(PATH, fullmatch=True), st.none()),
    "voice": st.text(st.characters(codec="utf-8"), min_size=1),
    "rate": st.floats(0.25, 4.0),
    "pitch": st.floats(-12.0, 12.0),
    "sample_rate": st.integers(8000, 48000),
})


def per_example(strategy: SearchStrategy[Any], examples: int) -> float:
    """Seconds per example of one derandomized ``@given`` run."""
    count = 0

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / max(count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = [("Result-like", from_schema(RESULT_SCHEMA), RESULT_HAND),
             ("voice_config-like", from_schema(VOICE_SCHEMA), VOICE_HAND)]
    print(f"{'schema':<20}{'from_schema':>14}{'hand-written':>14}{'ratio':>8}")
    for name, generated, hand in cases:
        gen_times, hand_times = [], []
        for _ in range(args.runs):  # interleaved so drift hits both sides alike
            gen_times.append(per_example(generated, args.examples))
            hand_times.append(per_example(hand, args.examples))
        gen, base = statistics.median(gen_times), statistics.median(hand_times)
        print(f"{name:<20}{gen * 1e3:>11.3f} ms{base * 1e3:>11.3f} ms{gen / base:>7.2f}x")


if __name__ == "__main__":
    main()
