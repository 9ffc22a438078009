"""SPEC section 1, table-driven over every pair of 0.x-3.x versions and windows 0-3."""

from __future__ import annotations

import itertools

import pytest

from vcs_conformance.compat import (
    RULES,
    Decision,
    InvalidVersionString,
    current_os,
    decide,
    parse_api,
)

VERSIONS = [f"{major}.{minor}" for major in range(4) for minor in range(4)]


def expected(plugin: str, core: str, window: int) -> tuple[str, str | None, tuple[str, ...]]:
    """SPEC 1's decision list, spelled out case by case for the table."""
    (pm, pn), (cm, cn) = parse_api(plugin), parse_api(core)
    if pm != cm:
        return ("incompatible", "major-mismatch", ())
    if pn > cn:
        return ("incompatible", "needs-newer-core", ())
    if pn == cn:
        return ("native", None, (plugin,))
    if cn - pn <= window:
        return ("shim", None, tuple(f"{pm}.{m}" for m in range(pn, cn + 1)))
    return ("incompatible", "too-old-for-window", ())


CASES = [(p, c, w) for p, c in itertools.product(VERSIONS, VERSIONS) for w in range(4)]


@pytest.mark.parametrize(("plugin", "core", "window"), CASES)
def test_every_version_pair_and_window(plugin: str, core: str, window: int) -> None:
    decision = decide(plugin, core + ".0", window=window)
    kind, rule, chain = expected(plugin, core, window)
    assert (decision.kind, decision.rule, decision.chain) == (kind, rule, chain)
    assert decision.compatible == (kind != "incompatible")
    # The message names both versions, so a skip reason is self-explanatory.
    assert plugin in decision.message and core + ".0" in decision.message


# A few rows written out by hand, the ones SPEC and the issues talk about.
@pytest.mark.parametrize(("plugin", "core", "window", "label"), [
    ("1.2", "1.2.0", 1, "native"),
    ("1.1", "1.2.0", 1, "shim 1.1->1.2"),
    ("1.0", "1.2.0", 1, "incompatible (too-old-for-window)"),
    ("1.0", "1.2.0", 2, "shim 1.0->1.1->1.2"),
    ("1.3", "1.2.0", 1, "incompatible (needs-newer-core)"),
    ("2.0", "1.2.0", 3, "incompatible (major-mismatch)"),
    ("1.0", "1.1.7", 1, "shim 1.0->1.1"),
    ("1.2", "1.0.0", 1, "incompatible (needs-newer-core)"),
])
def test_known_rows(plugin: str, core: str, window: int, label: str) -> None:
    assert decide(plugin, core, window=window).label() == label


@pytest.mark.parametrize(("spec", "core", "ok"), [
    (">=1.2.1,<2", "1.2.0", False),
    (">=1.2.1,<2", "1.2.1", True),
    ("~=1.2", "1.2.9", True),
    ("==1.2.*", "1.2.3", True),
    ("<1.2", "1.2.0", False),
    ("!=1.2.0", "1.2.0", False),
    (">=1.2.0rc1", "1.2.0rc2", True),  # prereleases of the core count
])
def test_core_version_specifier(spec: str, core: str, ok: bool) -> None:
    decision = decide("1.2", core, core_spec=spec)
    assert decision.compatible is ok
    if not ok:
        assert decision.rule == "core-version-excluded"
        assert core in decision.message


def test_version_rules_win_over_specifier_and_platform() -> None:
    decision = decide("2.0", "1.2.0", core_spec="<1", platforms=["windows"], os_name="linux")
    assert decision.rule == "major-mismatch"


@pytest.mark.parametrize(("platforms", "os_name", "ok"), [
    (["linux"], "linux", True),
    (["macos", "windows"], "linux", False),
    (["macos"], "macos", True),
    (None, "windows", True),
])
def test_platforms(platforms: list[str] | None, os_name: str, ok: bool) -> None:
    decision = decide("1.2", "1.2.0", platforms=platforms, os_name=os_name)
    assert decision.compatible is ok
    if not ok:
        assert decision.rule == "platform-unsupported" and os_name in decision.message


@pytest.mark.parametrize(("sys_platform", "name"), [
    ("linux", "linux"), ("darwin", "macos"), ("win32", "windows"), ("cygwin", "windows"),
])
def test_current_os_mapping(sys_platform: str, name: str) -> None:
    assert current_os(sys_platform) == name


@pytest.mark.parametrize("bad", ["1", "v1.2", "1.x", "", "1.2.0.banana"])
def test_bad_version_strings(bad: str) -> None:
    with pytest.raises(InvalidVersionString):
        decide(bad, "1.2.0")
    with pytest.raises(InvalidVersionString):
        decide("1.2", bad)


def test_bad_specifier_and_window() -> None:
    with pytest.raises(InvalidVersionString, match="not a PEP 440 specifier"):
        decide("1.2", "1.2.0", core_spec=">=>1")
    with pytest.raises(ValueError, match="window"):
        decide("1.2", "1.2.0", window=-1)


def test_rules_are_stable() -> None:
    assert RULES == ("major-mismatch", "needs-newer-core", "too-old-for-window",
                     "core-version-excluded", "platform-unsupported")
    assert Decision("native", "1.2", "1.2.0").core_api == "1.2"
