"""Sandboxed plugin workers (SPEC 6): ``strict``, ``basic``, ``off`` and ``auto``.

The host asks :func:`make_launcher` for a :class:`~vcs_conformance._seams.Launcher`
and never learns how confinement works.  Each launcher's ``report()`` says
what it really enforces on this machine, measured once per process by a
probe worker, because the same flags protect differently on different
kernels and as different users.
"""

from __future__ import annotations

import logging
import warnings

from .._seams import Launcher, SandboxReport, SubprocessLauncher
from ..errors import SandboxUnavailable
from ._limits import DEFAULT_LIMITS, MAXIMUM_LIMITS, MINIMUM_LIMITS, clamp_resources

__all__ = [
    "DEFAULT_LIMITS",
    "LEVELS",
    "MAXIMUM_LIMITS",
    "MINIMUM_LIMITS",
    "clamp_resources",
    "make_launcher",
    "off_report",
]

#: The levels a user can ask for, strongest first (``auto`` picks among them).
LEVELS = ("strict", "basic", "off", "auto")

#: Protections without which ``strict`` is not strict (SPEC 6).
_STRICT_CORE = ("user-namespace", "pid-namespace", "network-namespace", "mount-namespace",
                "unprivileged-uid", "capabilities-dropped", "no-new-privileges",
                "host-environ-hidden")

_log = logging.getLogger("vcs_conformance.sandbox")


def off_report() -> SandboxReport:
    """The report of the ``off`` level: what is *not* protected, loudly."""
    return SubprocessLauncher().report()


def _make_strict() -> Launcher:
    from . import _probe
    from ._bwrap import StrictLauncher

    setup = _probe.strict_setup()
    report = _probe.strict_report()
    broken = [p for p in report.protections if p.name in _STRICT_CORE and not p.enabled]
    if broken:
        raise SandboxUnavailable(
            "bubblewrap runs but the sandbox does not hold here: "
            + "; ".join(f"{p.name}: {p.detail}" for p in broken),
            hint=_probe.userns_hint(), details={"report": report.to_json()})
    return StrictLauncher(setup, report)


def _make_basic() -> Launcher:
    from . import _probe

    launcher: Launcher = _probe.basic_launcher()
    return launcher


def _make_off() -> Launcher:
    message = ("sandbox level 'off': plugins run UNCONFINED with your files, network and "
               "environment; use it only to debug a plugin you trust")
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    _log.warning(message)
    return SubprocessLauncher()


def make_launcher(level: str = "auto") -> Launcher:
    """A launcher for sandbox ``level``; ``auto`` picks the strongest that works.

    ``strict`` that cannot be given raises ``SandboxUnavailable`` saying why
    and how to fix it; ``auto`` then falls back to ``basic`` (and, off Linux,
    to ``off``) with a warning naming what is missing.  An unknown level is a
    ``ValueError`` naming the valid ones.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown sandbox level {level!r}: choose one of {', '.join(LEVELS)}")
    if level == "strict":
        return _make_strict()
    if level == "basic":
        return _make_basic()
    if level == "off":
        return _make_off()
    try:
        return _make_strict()
    except SandboxUnavailable as strict_error:
        reason = strict_error.message
    try:
        launcher = _make_basic()
    except SandboxUnavailable as basic_error:
        _log.warning("no sandbox available (%s; %s)", reason, basic_error.message)
        return _make_off()
    message = (f"sandbox 'strict' unavailable ({reason}); using 'basic': "
               + launcher.report().summary())
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    _log.warning(message)
    return launcher
