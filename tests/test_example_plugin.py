"""example_plugin/ keeps its own test suite (it is the template authors copy); run it here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example_plugin"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_example_plugin_own_suite_passes() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:vcs_conformance", "tests"],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1]


def test_example_manifest_is_valid() -> None:
    from vcs_conformance.manifest import load_manifest

    manifest = load_manifest(EXAMPLE)
    assert manifest.name == "vcs-example-espeak"
    assert manifest.api_version == "1.2"
    assert manifest.voices and manifest.sample_rates and manifest.config_schema
    assert [d.name for d in manifest.system_dependencies] == ["espeak-ng"]
