"""Isolated, cached virtualenvs for plugins (SPEC 2): the "isolated" env provider.

A plugin runs in its own virtualenv holding exactly what it locked, never
the kit's packages.  :class:`IsolatedEnvProvider` turns a handle (project
directory, sdist, wheel, installed name) into a
:class:`~vcs_conformance._seams.PluginEnv`; the cache helpers back
``vcs-conformance cache list|prune``; the lock and system-dependency
functions are public so the checks and the CLI can explain a failure.
"""

from __future__ import annotations

from ._cache import CacheEntry, default_cache_dir, list_entries, prune
from ._locks import LockedPackage, LockedSet, LockSource, read_lock
from ._provider import WORKER_PROTOCOL_VERSION, IsolatedEnvProvider
from ._sysdeps import SystemRequirement, ensure_system_deps, missing_system_deps

__all__ = [
    "WORKER_PROTOCOL_VERSION",
    "CacheEntry",
    "IsolatedEnvProvider",
    "LockSource",
    "LockedPackage",
    "LockedSet",
    "SystemRequirement",
    "default_cache_dir",
    "ensure_system_deps",
    "list_entries",
    "missing_system_deps",
    "prune",
    "read_lock",
]
