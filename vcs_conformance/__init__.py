"""vcs-conformance: conformance and compatibility kit for VCS plugins.

The public facade; everything else is private (``_``-prefixed modules) or a
documented submodule (``manifest``, ``compat``, ``schemas``, ``errors``).
"""

from __future__ import annotations

from ._api import CURRENT_CORE, KNOWN_API_VERSIONS
from .compat import Decision, decide
from .errors import (
    EnvBuildError,
    HookError,
    IncompatiblePlugin,
    InvalidInputRejected,
    ManifestError,
    OutputInvalid,
    PluginCrashed,
    PluginLoadError,
    PluginTimeout,
    Problem,
    ProtocolError,
    ResourceLimitExceeded,
    SandboxUnavailable,
    SystemDependencyMissing,
    VCSCompatibilityWarning,
    VCSError,
)
from .manifest import Manifest, load_manifest

__version__ = "0.1.0"

__all__ = [
    "CURRENT_CORE",
    "KNOWN_API_VERSIONS",
    "Decision",
    "EnvBuildError",
    "HookError",
    "IncompatiblePlugin",
    "InvalidInputRejected",
    "Manifest",
    "ManifestError",
    "OutputInvalid",
    "PluginCrashed",
    "PluginLoadError",
    "PluginTimeout",
    "Problem",
    "ProtocolError",
    "ResourceLimitExceeded",
    "SandboxUnavailable",
    "SystemDependencyMissing",
    "VCSCompatibilityWarning",
    "VCSError",
    "__version__",
    "decide",
    "load_manifest",
]
