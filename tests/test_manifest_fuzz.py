"""The manifest loader never raises anything but ``ManifestError`` on bad input.

Three sources of hostile input: arbitrary bytes, arbitrary YAML documents
(structures YAML can express, dumped by PyYAML) and mutations of a valid
manifest (fields deleted, retyped, renamed, duplicated).  Over 2,000
examples run in CI (the ``ci`` profile is derandomized, so a failure
reproduces).
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vcs_conformance.errors import ManifestError
from vcs_conformance.manifest import Manifest, parse_manifest

from .test_manifest import FIXTURES

VALID = yaml.safe_load((FIXTURES / "valid-full" / "vcs_plugin.yaml").read_text())
FUZZ = settings(max_examples=700, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def _verdict(text: str | bytes) -> None:
    try:
        result = parse_manifest(text, file="fuzz.yaml")
    except ManifestError as exc:
        assert exc.problems, "a ManifestError must carry at least one problem"
        for problem in exc.problems:
            assert problem.message
            problem.render()
        str(exc)
    else:
        assert isinstance(result, Manifest)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    _verdict(data)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30), st.dates())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.one_of(st.text(max_size=15), st.integers()),
                                            inner, max_size=6)),
    max_leaves=30,
)


@FUZZ
@given(documents)
def test_arbitrary_yaml_documents(doc: Any) -> None:
    _verdict(yaml.safe_dump(doc, allow_unicode=True))


FIELDS = sorted(VALID)
mutation = st.sampled_from(["delete", "retype", "rename", "duplicate", "nest-junk"])


@FUZZ
@given(st.lists(st.tuples(mutation, st.sampled_from(FIELDS), scalars), min_size=1, max_size=4))
def test_mutations_of_a_valid_manifest(steps: list[tuple[str, str, Any]]) -> None:
    doc = dict(VALID)
    text_suffix = ""
    for action, key, value in steps:
        if action == "delete":
            doc.pop(key, None)
        elif action == "retype":
            doc[key] = value
        elif action == "rename":
            if key in doc:
                doc[key + "_"] = doc.pop(key)
        elif action == "duplicate":
            text_suffix += yaml.safe_dump({key: value}, allow_unicode=True)
        else:
            doc[key] = {"junk": [value, {"deeper": value}]}
    _verdict(yaml.safe_dump(doc, allow_unicode=True) + text_suffix)
