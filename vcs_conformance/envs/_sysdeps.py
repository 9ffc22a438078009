"""System dependencies (manifest ``dependencies.system``): check, explain, install.

Why one error for all of them: a user fixing a CI image wants the single
``apt-get install ...`` line that makes every missing binary and library
appear, not one round trip per package.  Binaries are looked up on ``PATH``
(``shutil.which``), libraries the way ``ctypes`` will load them
(``ctypes.util.find_library``).  Installing is opt-in
(``install_system_deps=True`` / ``--install-system-deps``) because it changes
the machine; it runs the same command the error shows, then checks again.
"""

from __future__ import annotations

import ctypes.util
import os
import shlex
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvBuildError, SystemDependencyMissing
from ._install import excerpt, run_tool

__all__ = [
    "SystemRequirement",
    "detect_package_manager",
    "ensure_system_deps",
    "install_command",
    "missing_system_deps",
]

#: Package managers we know, in the order they are looked for.
MANAGERS = ("apt", "dnf", "brew")


@dataclass(frozen=True)
class SystemRequirement:
    """One ``dependencies.system`` entry."""

    name: str
    kind: str = "binary"
    packages: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: Any) -> SystemRequirement:
        """From a manifest's ``SystemDependency`` or a plain mapping."""
        if isinstance(obj, Mapping):
            return cls(str(obj["name"]), str(obj.get("kind", "binary")),
                       dict(obj.get("packages") or {}))
        return cls(str(obj.name), str(obj.kind), dict(obj.packages))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "packages": dict(self.packages)}


def _present(req: SystemRequirement) -> bool:
    if req.kind == "library":
        return ctypes.util.find_library(req.name) is not None
    return shutil.which(req.name) is not None


def missing_system_deps(reqs: Sequence[SystemRequirement],
                        present: Callable[[SystemRequirement], bool] = _present,
                        ) -> list[SystemRequirement]:
    """The entries this machine does not have."""
    return [r for r in reqs if not present(r)]


def detect_package_manager(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """``apt``, ``dnf`` or ``brew``, whichever this machine has (first wins)."""
    for manager, binary in (("apt", "apt-get"), ("dnf", "dnf"), ("brew", "brew")):
        if which(binary):
            return manager
    return None


def install_command(manager: str, packages: Sequence[str], *, root: bool | None = None
                    ) -> list[str]:
    """The command that installs ``packages`` (``sudo -n`` when not root, except brew)."""
    is_root = (os.geteuid() == 0) if root is None and hasattr(os, "geteuid") else bool(root)
    if manager == "brew":
        return ["brew", "install", *packages]
    base = ["apt-get", "install", "-y", "--no-install-recommends"] if manager == "apt" \
        else ["dnf", "install", "-y"]
    return [*base, *packages] if is_root else ["sudo", "-n", *base, *packages]


def _plan(missing: Sequence[SystemRequirement], manager: str | None
          ) -> tuple[list[str], list[SystemRequirement]]:
    """Packages to install for ``manager`` and the entries it has no package for."""
    packages: list[str] = []
    unknown: list[SystemRequirement] = []
    for req in missing:
        package = req.packages.get(manager) if manager else None
        if package:
            if package not in packages:
                packages.append(package)
        else:
            unknown.append(req)
    return packages, unknown


def _missing_error(missing: Sequence[SystemRequirement], manager: str | None,
                   plugin: str | None, note: str = "") -> SystemDependencyMissing:
    packages, unknown = _plan(missing, manager)
    listed = ", ".join(f"{r.name} ({r.kind})" for r in missing)
    lines = [f"missing system dependencies: {listed}"]
    command = shlex.join(install_command(manager, packages)) if manager and packages else None
    if command:
        lines.append(f"install them with: {command}")
    for req in unknown:
        known = ", ".join(f"{k}: {v}" for k, v in req.packages.items()) or "none"
        lines.append(f"no {manager or 'known package manager'} package is declared for "
                     f"{req.name} (declared: {known}); install it by hand")
    if note:
        lines.append(note)
    return SystemDependencyMissing(
        "\n  ".join(lines), plugin=plugin,
        hint=(f"run `{command}`, or pass --install-system-deps" if command else None),
        details={"stage": "system", "missing": [r.to_json() for r in missing],
                 "manager": manager, "command": command})


def ensure_system_deps(reqs: Sequence[SystemRequirement], *, install: bool = False,
                       plugin: str | None = None,
                       present: Callable[[SystemRequirement], bool] = _present,
                       manager: str | None = None) -> list[str]:
    """Check the entries; with ``install`` run the package manager, then check again.

    Returns the packages installed (empty when nothing was missing).  Raises
    one :class:`SystemDependencyMissing` naming every missing entry and the
    install command, or :class:`EnvBuildError` when that command fails.
    """
    missing = missing_system_deps(reqs, present)
    if not missing:
        return []
    manager = manager or detect_package_manager()
    if not install:
        raise _missing_error(missing, manager, plugin)
    packages, _unknown = _plan(missing, manager)
    if manager is None or not packages:
        raise _missing_error(missing, manager, plugin, "nothing could be installed automatically")
    _install(manager, packages, plugin)
    still = missing_system_deps(reqs, present)
    if still:
        raise _missing_error(still, manager, plugin,
                             f"still missing after installing {', '.join(packages)}")
    return packages


def _apt_lists_empty() -> bool:
    lists = Path("/var/lib/apt/lists")
    return not any(lists.glob("*_Packages*")) if lists.is_dir() else True


def _install(manager: str, packages: list[str], plugin: str | None) -> None:
    cmd = install_command(manager, packages)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        if manager == "apt" and _apt_lists_empty():
            update = ["apt-get", "update"] if cmd[0] != "sudo" else ["sudo", "-n", "apt-get",
                                                                     "update"]
            run_tool(update, stage="system", what="updating the apt package lists", env=env)
        run_tool(cmd, stage="system", what=f"installing system packages ({shlex.join(cmd)})",
                 env=env)
    except EnvBuildError as exc:
        output = str(exc.details.get("output", ""))
        hint = None
        if "sudo" in output and ("password" in output or "a terminal" in output):
            hint = "sudo needs a password here: run the command yourself as root"
        raise EnvBuildError(f"{exc.message}", plugin=plugin, hint=hint,
                            details={**exc.details, "excerpt": excerpt(output)}) from None
