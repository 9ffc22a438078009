"""The manifest, the config schema and the code agree, and the package ships them.

The plugin cannot read its own YAML manifest at run time (PyYAML is not in
the standard library), so ``_config.py`` repeats ``voices`` and
``sample_rates``; these tests are what keeps the copies equal.  They need
PyYAML / jsonschema / poetry-core, which every kit installation has, and are
skipped (with the reason) where those are missing.
"""

from __future__ import annotations

import json
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from vcs_example_espeak import _config

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "src" / "vcs_example_espeak"


def manifest() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load((PACKAGE / "vcs_plugin.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def schema() -> dict[str, Any]:
    data = json.loads((PACKAGE / "config_schema.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_declares_what_the_code_enforces() -> None:
    data = manifest()
    assert tuple(data["voices"]) == _config.VOICES
    assert tuple(data["sample_rates"]) == _config.SAMPLE_RATES
    assert data["api_version"] == "1.2"
    assert data["permissions"] == {"network": False}
    assert data["config_schema"] == "config_schema.json"
    espeak = data["dependencies"]["system"][0]
    assert espeak["name"] == "espeak-ng" and set(espeak["packages"]) == {"apt", "dnf", "brew"}


def test_manifest_identity_matches_the_distribution() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    data = manifest()
    assert (data["name"], data["version"]) == (project["name"], project["version"])
    assert project["entry-points"]["vcs.plugins"] == {data["name"]: "vcs_example_espeak.plugin"}
    assert project["dependencies"] == []


def test_config_schema_enums_are_the_declared_lists() -> None:
    props = schema()["properties"]
    assert tuple(props["default_voice"]["enum"]) == _config.VOICES
    assert tuple(props["default_sample_rate"]["enum"]) == _config.SAMPLE_RATES


CONFIGS: list[Any] = [
    {}, {"default_voice": "de"}, {"default_voice": "xx"}, {"default_voice": None},
    {"default_sample_rate": 16000}, {"default_sample_rate": 16000.0},
    {"default_sample_rate": 11025}, {"default_sample_rate": True}, {"default_sample_rate": "8000"},
    {"word_gap_ms": 0}, {"word_gap_ms": 1000}, {"word_gap_ms": 1001}, {"word_gap_ms": -1},
    {"word_gap_ms": 5.0}, {"word_gap_ms": 5.5}, {"word_gap_ms": False}, {"word_gap_ms": "5"},
    {"amplitude": 10}, {"amplitude": 9}, {"amplitude": 200}, {"amplitude": 201},
    {"amplitude": None}, {"unknown": [1, 2]}, {"x-host": {"a": 1}, "amplitude": 50},
    [], "config", None, 3,
]


@pytest.mark.parametrize("config", CONFIGS, ids=[json.dumps(c) for c in CONFIGS])
def test_init_agrees_with_the_schema(config: Any) -> None:
    """The kit generates configs from config_schema.json: init must judge them the same."""
    jsonschema = pytest.importorskip("jsonschema")
    valid = jsonschema.Draft202012Validator(schema()).is_valid(config)
    if valid:
        _config.parse_config(config)
    else:
        with pytest.raises(ValueError, match="config"):
            _config.parse_config(config)


def test_schema_is_a_valid_2020_12_schema_of_an_object() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["type"] == "object"


@pytest.mark.slow
def test_wheel_and_sdist_ship_manifest_and_schema(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("poetry.core.masonry.api")
    monkeypatch.chdir(PROJECT)
    wheel = tmp_path / api.build_wheel(str(tmp_path))
    sdist = tmp_path / api.build_sdist(str(tmp_path))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read("vcs_example_espeak-0.1.0.dist-info/entry_points.txt").decode()
    assert {"vcs_example_espeak/vcs_plugin.yaml", "vcs_example_espeak/config_schema.json",
            "vcs_example_espeak/plugin.py"} <= names
    assert "[vcs.plugins]\nvcs-example-espeak=vcs_example_espeak.plugin" in entry_points
    with tarfile.open(sdist) as tf:
        members = set(tf.getnames())
    root = "vcs_example_espeak-0.1.0"
    assert {f"{root}/src/vcs_example_espeak/vcs_plugin.yaml", f"{root}/poetry.lock",
            f"{root}/src/vcs_example_espeak/config_schema.json"} <= members
