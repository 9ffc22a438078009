"""The seams between the host, the isolated environments and the sandbox.

The host (``vcs_conformance.host``) never decides *which* interpreter runs a
plugin, nor *how* its worker process is confined: it asks a
:class:`PluginEnv` for the interpreter and a :class:`Launcher` to start the
worker.  The first implementations are "the current interpreter" and "a
plain subprocess"; ``vcs_conformance.envs`` and ``vcs_conformance.sandbox``
plug in the isolated virtualenv and bubblewrap without the host changing.

Paths are the same inside and outside the sandbox: the sandbox binds every
path it exposes at its host location, so nothing here needs remapping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (SPEC 6); the host clamps requests to maxima."""

    memory_mb: int = 1024
    cpu_seconds: int = 120
    timeout_seconds: float = 60.0
    max_processes: int = 64
    max_file_size_mb: int = 256
    max_open_files: int = 256
    #: Bytes the read-write workspace areas may grow by during one call.
    max_written_mb: int = 512
    #: Entries (files, directories, links) they may gain during one call.
    max_written_files: int = 100_000
    #: Progress events one ``train`` call may send (a flood would fill host memory).
    max_progress_events: int = 100_000
    #: Largest protocol frame either side accepts.
    max_frame_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class PluginEnv:
    """Where a plugin's code lives and which interpreter runs it.

    ``python`` is the real interpreter path (never a pyenv shim).
    ``sys_path`` are extra import roots the worker prepends (a project's
    source dir in "current" mode); ``readonly_paths`` is everything the
    sandbox must expose read-only for that interpreter to work (the venv,
    the base prefix it was made from, the extra import roots).
    """

    python: Path
    readonly_paths: tuple[Path, ...]
    sys_path: tuple[Path, ...] = ()
    #: Distribution name, entry-point name and module, when already known.
    dist_name: str | None = None
    entry_point: str | None = None
    entry_module: str | None = None
    manifest_path: Path | None = None
    #: "isolated" or "current"; what built it, cache hit, stage timings.
    kind: str = "current"
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a launcher needs to start one worker process."""

    #: Full command: ``[python, "-I", worker_script, *args]``.
    argv: tuple[str, ...]
    #: The complete environment of the worker (the host already scrubbed it).
    env: Mapping[str, str]
    #: Descriptors the worker inherits (the protocol pipe ends), nothing else.
    pass_fds: tuple[int, ...]
    plugin_env: PluginEnv
    limits: Limits
    #: Project workspace (SPEC 4) or None when the call needs none.
    workspace: Path | None
    #: Private temp dir for this worker (becomes ``/tmp`` in a sandbox).
    temp_dir: Path
    #: Files the worker's stdout and stderr go to (bounded by the host).
    stdout_path: Path
    stderr_path: Path
    #: Whether the manifest grants ``permissions.network``.
    network: bool = False
    #: The worker script itself, to be exposed read-only.
    worker_script: Path | None = None


@dataclass(frozen=True)
class Protection:
    """One line of the sandbox report: a protection, on or off, and why."""

    name: str
    enabled: bool
    detail: str = ""


@dataclass(frozen=True)
class SandboxReport:
    """What a launcher really enforces, as measured, not assumed (SPEC 6)."""

    level: str
    protections: tuple[Protection, ...] = ()
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "protections": [
                {"name": p.name, "enabled": p.enabled, "detail": p.detail}
                for p in self.protections
            ],
            "missing": list(self.missing),
        }

    def summary(self) -> str:
        on = [p.name for p in self.protections if p.enabled]
        off = [p.name for p in self.protections if not p.enabled]
        text = f"sandbox {self.level}: " + (", ".join(on) or "no protections")
        if off:
            text += f" (missing: {', '.join(off)})"
        return text


class WorkerProcess(Protocol):
    """A started worker; the launcher owns everything it spawned."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None:
        """Exit status (negative: killed by that signal) or None while running."""

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None:
        """Kill the worker and every process it started; idempotent."""

    def leftovers(self) -> list[int]:
        """PIDs of processes the plugin started that are still alive now."""

    def limit_hit(self) -> str | None:
        """Name of the limit that killed the worker (``"memory"``...), if known."""

    def close(self) -> None:
        """Kill what is left and release resources (cgroups, temp dirs)."""


class Launcher(Protocol):
    """Starts workers at one sandbox level."""

    level: str

    def report(self) -> SandboxReport: ...

    def start(self, spec: WorkerSpec) -> WorkerProcess: ...


class PopenWorker:
    """A worker started with plain ``subprocess.Popen`` in its own session.

    Used by the ``off`` level and as the base the sandboxes refine: the new
    session makes the whole process group killable at once.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self._proc.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)

    def leftovers(self) -> list[int]:
        return _group_members(self._proc.pid, exclude=self._proc.pid)

    def limit_hit(self) -> str | None:
        return None

    def close(self) -> None:
        self.kill()


def _group_members(pgid: int, *, exclude: int) -> list[int]:
    """PIDs in process group ``pgid`` (Linux ``/proc``), except ``exclude``."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" of comm: state ppid pgrp ...
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 2 and rest[0] != "Z" and int(rest[2]) == pgid:
            found.append(int(entry.name))
    return sorted(found)


class SubprocessLauncher:
    """The ``off`` level: no confinement at all, for debugging (and loud about it)."""

    level = "off"

    def report(self) -> SandboxReport:
        return SandboxReport(
            level="off",
            protections=(
                Protection("process-group-kill", True, "worker runs in its own session"),
                Protection("scrubbed-environment", True, "only the variables the host sets"),
                Protection("host-environ-hidden", False, "the worker can read the host's "
                           "own /proc/<pid>/environ"),
            ),
            missing=("namespaces", "filesystem", "network", "limits", "host-environ-hidden"),
        )

    def start(self, spec: WorkerSpec) -> WorkerProcess:
        with open(spec.stdout_path, "ab") as out, open(spec.stderr_path, "ab") as err:
            proc = subprocess.Popen(
                list(spec.argv),
                env=dict(spec.env),
                pass_fds=spec.pass_fds,
                close_fds=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                cwd=str(spec.workspace or spec.temp_dir),
            )
        return PopenWorker(proc)
