"""Every outcome the kit reports, one class each, with a stable ``code``.

Why a class per outcome: a core team embedding the host branches on the
class, a CI log is grepped for the code, and a person reads the message.
So every error carries the plugin and hook it concerns and renders a
multi-line story (which plugin, which hook, what happened, how to fix it),
in the manner of pluggy's validation errors.  After any of these the host
keeps working; none of them is a bug in the kit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "EnvBuildError",
    "HookError",
    "IncompatiblePlugin",
    "InvalidInputRejected",
    "ManifestError",
    "MatrixConfigError",
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
]


class VCSError(Exception):
    """Base of every error the kit raises on purpose.

    ``code`` is stable (documented in the README); the message is for a
    person.  ``plugin`` and ``hook`` say where; ``hint`` says how to fix it;
    ``details`` holds machine-readable extras for JSON reports.
    """

    code: ClassVar[str] = "vcs-error"

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        hook: str | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.plugin = plugin
        self.hook = hook
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})

    def story(self) -> str:
        """The multi-line explanation: where, what, how to fix."""
        where = []
        if self.plugin:
            where.append(f"plugin {self.plugin!r}")
        if self.hook:
            where.append(f"hook {self.hook!r}")
        head = f"[{self.code}] " + (", ".join(where) + ": " if where else "") + self.message
        lines = [head]
        if self.hint:
            lines.append(f"  how to fix: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.story()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form for reports and the CLI's ``--format json``."""
        return {
            "code": self.code,
            "message": self.message,
            "plugin": self.plugin,
            "hook": self.hook,
            "hint": self.hint,
            "details": self.details,
        }


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can.

    ``pointer`` is a JSON pointer into the document (``""`` for the whole
    document); ``line`` and ``column`` are 1-based positions in the source
    text when the parser gave us one.
    """

    message: str
    pointer: str = ""
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    file: str | None = None

    def location(self) -> str:
        parts = [self.file or "<manifest>"]
        if self.line is not None:
            parts.append(str(self.line))
            parts.append(str(self.column or 1))
        return ":".join(parts)

    def render(self) -> str:
        """Compiler style: ``path:line:col: error: message [hint]``."""
        where = f" (at {self.pointer})" if self.pointer else ""
        text = f"{self.location()}: error: {self.message}{where}"
        if self.hint:
            text += f" [{self.hint}]"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "pointer": self.pointer,
            "message": self.message,
            "hint": self.hint,
        }


class ManifestError(VCSError, ValueError):
    """The manifest cannot be used; ``problems`` lists everything wrong at once."""

    code = "manifest-invalid"

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        file: str | None = None,
        plugin: str | None = None,
    ) -> None:
        self.problems: list[Problem] = list(problems)
        self.file = file
        count = len(self.problems)
        summary = f"{file or 'manifest'}: {count} problem{'s' if count != 1 else ''}"
        super().__init__(summary, plugin=plugin,
                         details={"problems": [p.to_json() for p in problems]})

    def story(self) -> str:
        return "\n".join([super().story(), *("  " + p.render() for p in self.problems)])


class VCSCompatibilityWarning(UserWarning):
    """An incompatible plugin was skipped (SPEC section 1): never a traceback."""


class IncompatiblePlugin(VCSError):
    """SPEC section 1 says no: ``rule`` names which rule, with both versions."""

    code = "incompatible"

    def __init__(self, message: str, *, rule: str, plugin: str | None = None,
                 hint: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, plugin=plugin, hint=hint,
                         details={"rule": rule, **(details or {})})
        self.rule = rule


class PluginLoadError(VCSError):
    """The plugin could not be found, imported or registered."""

    code = "load-failed"


class InvalidInputRejected(VCSError):
    """The hook raised ``ValueError`` (or a subclass): it refused the input.

    For invalid input this is the *correct* outcome; for valid input it is a
    defect, and the checks decide which.
    """

    code = "invalid-input"

    def __init__(self, message: str, *, remote_type: str = "ValueError", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.remote_type = remote_type


class HookError(VCSError):
    """The hook raised something other than ``ValueError``."""

    code = "hook-error"

    def __init__(self, message: str, *, remote_type: str, remote_traceback: str = "",
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback

    def story(self) -> str:
        text = super().story()
        if self.remote_traceback:
            text += "\n  plugin traceback:\n" + "\n".join(
                "    " + line for line in self.remote_traceback.rstrip().splitlines())
        return text


class PluginTimeout(VCSError):
    """A call ran past its timeout; the worker was killed, not asked."""

    code = "timeout"


class PluginCrashed(VCSError):
    """The worker died: exit code or signal, and the last lines it logged."""

    code = "crashed"

    def __init__(self, message: str, *, exit_code: int | None = None,
                 signal: str | None = None, log_tail: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.exit_code = exit_code
        self.signal = signal
        self.log_tail = log_tail

    def story(self) -> str:
        text = super().story()
        if self.log_tail:
            text += "\n  last output of the plugin:\n" + "\n".join(
                "    " + line for line in self.log_tail.rstrip().splitlines()[-20:])
        return text


class ResourceLimitExceeded(VCSError):
    """The plugin broke a sandbox limit; ``limit`` names which one."""

    code = "resource-limit"

    def __init__(self, message: str, *, limit: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class ProtocolError(VCSError):
    """A frame on the worker pipe was malformed, oversized or out of order."""

    code = "protocol-error"


class OutputInvalid(VCSError):
    """The hook returned something that breaks the schema or SPEC sections 4-5."""

    code = "output-invalid"


class SandboxUnavailable(VCSError):
    """The requested sandbox level cannot be given on this machine."""

    code = "sandbox-unavailable"


class EnvBuildError(VCSError):
    """The isolated environment could not be built (build, lock, install)."""

    code = "env-build-failed"


class SystemDependencyMissing(EnvBuildError):
    """Binaries or libraries the manifest needs are not on this machine."""

    code = "system-dependency-missing"


class MatrixConfigError(VCSError, ValueError):
    """A matrix plugin list, baseline or results file that cannot be used (names file and key)."""

    code = "matrix-config-invalid"
