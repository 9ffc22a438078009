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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_example_plugin_passes_the_whole_catalogue(pytester: pytest.Pytester,
                                                   tmp_path: Path) -> None:
    """The kit's main job, as the README's first command runs it: isolated env, strict."""
    report = tmp_path / "report.json"
    result = pytester.runpytest(f"--vcs-plugin={EXAMPLE}", "--vcs-sandbox=strict",
                                "--vcs-env=isolated", f"--vcs-report={report}", "-v")
    result.assert_outcomes(passed=18)
    result.stdout.fnmatch_lines([
        "*plugin vcs-example-espeak 0.1.0, targets API 1.2: native on core 1.2.0*",
        "*sandbox strict: *unprivileged-uid*network-namespace*",
        "*env isolated: *installer uv*",
    ])
    import json

    plugin = json.loads(report.read_text())["plugins"][0]
    assert plugin["counts"] == {"passed": 18}
    assert plugin["examples"]["synthesize"] >= 25
    assert plugin["info"]["env"]["kind"] == "isolated"


@pytest.mark.slow
@pytest.mark.parametrize("core", ["1.0.0", "1.1.0"])
def test_example_plugin_is_skipped_on_older_cores(pytester: pytest.Pytester,
                                                  core: str) -> None:
    result = pytester.runpytest(f"--vcs-plugin={EXAMPLE}", f"--vcs-core-version={core}",
                                "-W", "default")
    result.assert_outcomes(passed=3, skipped=15)  # everything after compat-core skips
    result.stdout.fnmatch_lines([f"*incompatible with core {core} (needs-newer-core)*"])
