"""The built wheel of the plugin under test, and what its metadata says.

``manifest-present`` is about the *built* wheel (a manifest in the source
tree that the build leaves out is the classic packaging bug), so a project
directory or sdist is built once per run, with build isolation, and the
wheel reused; the isolated env provider's wheel is reused when it has one.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from .._api import ENTRY_POINT_GROUP
from ._outcome import CheckFailed, CheckSkipped


def built_wheel(run: Any) -> Path:
    cached: Path | None = getattr(run, "_built_wheel", None)
    if cached is not None:
        return cached
    handle = Path(run.handle)
    if handle.suffix == ".whl" and handle.is_file():
        wheel = handle
    elif handle.is_dir() or handle.name.endswith((".tar.gz", ".zip")):
        wheel = _cached_build(run, handle)
    else:
        wheel = _installed_wheel(run)
    run._built_wheel = wheel
    return wheel


def _installed_wheel(run: Any) -> Path:
    """An installed distribution's wheel: an editable install is rebuilt from its source."""
    from ..envs import IsolatedEnvProvider
    from ..errors import EnvBuildError

    try:
        return IsolatedEnvProvider(offline=run.settings.offline,
                                   find_links=run.settings.find_links).wheel_for(run.handle)
    except EnvBuildError as exc:
        raise CheckSkipped(f"{run.handle!r} is an installed distribution whose wheel cannot be "
                           f"rebuilt ({exc.message}): there is no built wheel to inspect") \
            from None


def _cached_build(run: Any, handle: Path) -> Path:
    """The env cache's wheel (built once per source state), else a fresh build."""
    from ..envs import IsolatedEnvProvider
    from ..errors import EnvBuildError

    try:
        provider = IsolatedEnvProvider(offline=run.settings.offline,
                                       find_links=run.settings.find_links)
        return provider.wheel_for(handle)
    except EnvBuildError as exc:
        if exc.details.get("stage") == "build" or "build" in exc.message:
            raise CheckFailed(f"a wheel built from {handle}", exc.message) from None
        return _build(handle, run.factory.mktemp("vcs-wheel", numbered=True))


def _build(source: Path, out: Path) -> Path:
    from ..envs._install import find_tools
    from ..errors import EnvBuildError

    try:  # the uv PyPI package's binary: a kit installed in a venv has no uv on PATH
        uv: str | None = find_tools("uv").uv
    except EnvBuildError:
        uv = None
    if uv:
        cmd = [uv, "build", "--wheel", "--out-dir", str(out), str(source)]
    else:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    wheels = sorted(out.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise CheckFailed(f"a wheel built from {source}", f"the build failed:\n{tail}",
                          example=" ".join(cmd))
    return wheels[0]


def wheel_entry_points(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1
                 and n.endswith(".dist-info/entry_points.txt")]
        if not names:
            return {}
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(zf.read(names[0]).decode("utf-8"))
    if not parser.has_section(ENTRY_POINT_GROUP):
        return {}
    return dict(parser.items(ENTRY_POINT_GROUP))


def wheel_identity(wheel: Path) -> tuple[str | None, str | None]:
    with zipfile.ZipFile(wheel) as zf:
        meta = [n for n in zf.namelist() if n.count("/") == 1
                and n.endswith(".dist-info/METADATA")]
        if not meta:
            return None, None
        headers = HeaderParser().parsestr(zf.read(meta[0]).decode("utf-8", "replace"))
    return headers.get("Name"), headers.get("Version")
