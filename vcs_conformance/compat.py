"""SPEC section 1 as a pure function: may this core run this plugin, and how?

The rules are applied in SPEC's order and the first that decides wins, so the
message can name exactly one rule and both versions.  Everything is a value:
no I/O, no global state, so the host, the pytest plugin and the nox matrix
agree by construction.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ._api import DEFAULT_SHIM_WINDOW

__all__ = [
    "RULES",
    "Decision",
    "InvalidVersionString",
    "current_os",
    "decide",
    "parse_api",
]

#: Stable rule names, in SPEC order (reports and tests use them).
RULES = (
    "major-mismatch",
    "needs-newer-core",
    "too-old-for-window",
    "core-version-excluded",
    "platform-unsupported",
)


class InvalidVersionString(ValueError):
    """A version string that is not ``MAJOR.MINOR`` (API) or PEP 440 (core)."""


@dataclass(frozen=True)
class Decision:
    """The verdict: ``native``, ``shim`` (through ``chain``) or ``incompatible``."""

    kind: str
    plugin_api: str
    core_version: str
    chain: tuple[str, ...] = ()
    rule: str | None = None
    message: str = ""

    @property
    def compatible(self) -> bool:
        return self.kind != "incompatible"

    @property
    def core_api(self) -> str:
        major, minor = parse_api(self.core_version)
        return f"{major}.{minor}"

    def label(self) -> str:
        """Short form for headers: ``native``, ``shim 1.1->1.2`` or ``skip (rule)``."""
        if self.kind == "shim":
            return "shim " + "->".join(self.chain)
        if self.kind == "native":
            return "native"
        return f"incompatible ({self.rule})"


def parse_api(version: str) -> tuple[int, int]:
    """``"1.2"`` or ``"1.2.0"`` -> ``(1, 2)``; the API a version serves."""
    parts = str(version).strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise InvalidVersionString(f"{version!r} is not a MAJOR.MINOR version")
    if len(parts) > 2:
        try:
            Version(str(version))
        except InvalidVersion:
            raise InvalidVersionString(f"{version!r} is not a PEP 440 version") from None
    return int(parts[0]), int(parts[1])


def current_os(platform: str | None = None) -> str:
    """The running OS as SPEC names it: ``linux``, ``macos`` or ``windows``."""
    name = platform if platform is not None else sys.platform
    if name.startswith("linux"):
        return "linux"
    if name == "darwin":
        return "macos"
    if name in ("win32", "cygwin"):
        return "windows"
    return name


def decide(
    plugin_api: str,
    core_version: str,
    *,
    window: int = DEFAULT_SHIM_WINDOW,
    core_spec: str | SpecifierSet | None = None,
    platforms: Sequence[str] | None = None,
    os_name: str | None = None,
) -> Decision:
    """Apply SPEC 1's rules in order; the first that decides wins.

    ``plugin_api`` is the manifest's ``api_version``; ``core_version`` the
    core's full version; ``core_spec`` and ``platforms`` the manifest's
    optional fields; ``os_name`` overrides the detected OS (for tests).
    """
    if window < 0:
        raise ValueError(f"the shim window must be 0 or more, not {window}")
    p_major, p_minor = parse_api(plugin_api)
    c_major, c_minor = parse_api(core_version)
    p, c = f"{p_major}.{p_minor}", f"{c_major}.{c_minor}"

    def no(rule: str, message: str) -> Decision:
        return Decision("incompatible", p, core_version, (), rule, message)

    if p_major != c_major:
        return no("major-mismatch", f"plugin targets API {p} but core {core_version} serves API "
                  f"{c}: major versions differ ({p_major} != {c_major})")
    if p_minor > c_minor:
        return no("needs-newer-core", f"plugin targets API {p}, newer than API {c} of core "
                  f"{core_version}: it needs a newer core")
    if p_minor == c_minor:
        decision = Decision("native", p, core_version, (p,), None,
                            f"plugin API {p} is native on core {core_version}")
    elif c_minor - p_minor <= window:
        chain = tuple(f"{p_major}.{m}" for m in range(p_minor, c_minor + 1))
        decision = Decision("shim", p, core_version, chain, None,
                            f"plugin API {p} is served on core {core_version} through the shim "
                            f"chain {' -> '.join(chain)}")
    else:
        return no("too-old-for-window", f"plugin targets API {p}, {c_minor - p_minor} minor "
                  f"versions behind API {c} of core {core_version}; this core shims at most "
                  f"{window} (the compatibility window)")
    if core_spec is not None:
        try:
            spec = core_spec if isinstance(core_spec, SpecifierSet) else SpecifierSet(core_spec)
        except InvalidSpecifier:
            raise InvalidVersionString(f"{core_spec!r} is not a PEP 440 specifier set") from None
        if not spec.contains(core_version, prereleases=True):
            return no("core-version-excluded", f"plugin's core_version {str(spec)!r} does not "
                      f"contain core {core_version}")
    if platforms is not None:
        running = current_os(None) if os_name is None else os_name
        if running not in platforms:
            return no("platform-unsupported", f"plugin supports {', '.join(platforms)} but this "
                      f"host runs {running}")
    return decision
