"""The installed kit finds its schemas without the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vcs_conformance.envs._install import find_tools

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_schemas_and_uses_them(tmp_path: Path) -> None:
    uv = find_tools("uv").uv  # the kit depends on uv: never a skip
    # Build from a copy, so the test never writes into the checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".nox", "__pycache__", "*.egg-info", "dist", "build", "example_plugin",
        ".hypothesis"))
    out = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(out), str(src)], check=True,
                   capture_output=True)
    (wheel,) = out.glob("vcs_conformance-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    shipped = {n for n in names if n.startswith("vcs_conformance/schemas/")}
    on_disk = {"vcs_conformance/schemas/" + str(p.relative_to(ROOT / "schemas"))
               for p in (ROOT / "schemas").rglob("*.schema.json")}
    assert on_disk <= shipped
    # From an unrelated directory, with only the unpacked wheel on the path.
    probe = ("import vcs_conformance.schemas as s, pathlib, sys;"
             "d = s.schema_dir(); print(d);"
             "v = s.validator('result', '1.2');"
             "assert v.is_valid({'audio': 'outputs/a.wav', 'sample_rate': 8000, 'duration_s': 0})")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin"},
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "site" / "vcs_conformance" / "schemas")
