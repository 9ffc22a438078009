"""Every rule of SPEC section 2 has a failing fixture manifest, asserted here.

The fixtures live in ``tests/fixtures/manifests/<case>/vcs_plugin.yaml``;
each row says where the (first) problem must be reported and what it says.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from vcs_conformance.errors import ManifestError
from vcs_conformance.manifest import check_identity, load_manifest, parse_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"

# case: (line, column, pointer, words in the message, words in the hint or None)
INVALID = {
    "missing-required": (1, 1, "", "'description' is required", None),
    "name-invalid": (1, 7, "/name", "is not a distribution name", None),
    "version-not-pep440": (2, 10, "/version", "not a PEP 440 version", "1.0.0"),
    "version-number": (2, 10, "/version", "is not of type 'string'", 'quote it: "1.0"'),
    "description-empty": (3, 14, "/description", "non-empty text", None),
    "description-too-long": (3, 14, "/description", "(501 characters)", None),
    "api-version-float": (4, 14, "/api_version", "YAML reads 1.10 as a number",
                          'quote it: api_version: "1.10"'),
    "api-version-unknown": (4, 14, "/api_version", "'0.9' is not a known plugin API version",
                            None),
    "api-version-malformed": (4, 14, "/api_version", "'v1' is not a known", None),
    "core-version-invalid": (5, 15, "/core_version", "not a PEP 440 specifier set", ">=1.2.1,<2"),
    "platforms-empty": (5, 12, "/platforms", "should be non-empty", None),
    "platforms-unknown": (5, 20, "/platforms/1", "'beos' is not one of", None),
    "platforms-duplicate": (5, 12, "/platforms", "non-unique", None),
    "python-dep-invalid": (6, 12, "/dependencies/python/0", "not a PEP 508 requirement", None),
    "system-dep-bad-kind": (8, 13, "/dependencies/system/0/kind", "'script' is not one of", None),
    "system-dep-no-name": (7, 7, "/dependencies/system/0", "'name' is required", None),
    "system-dep-unknown-manager": (8, 18, "/dependencies/system/0/packages/zypper",
                                   "unknown key 'zypper'", "x-"),
    "network-not-bool": (6, 12, "/permissions/network", "not of type 'boolean'", None),
    "resources-invalid": (6, 14, "/resources/memory_mb", "less than the minimum of 1", None),
    "config-schema-invalid": (6, 3, "/config_schema", "not a valid JSON Schema 2020-12", None),
    "config-schema-not-object": (6, 3, "/config_schema", "must say type: object", None),
    "config-schema-missing-file": (5, 16, "/config_schema", "'nowhere.json' does not exist",
                                   None),
    "config-schema-escape": (5, 16, "/config_schema", "must be relative to the package", None),
    "voices-empty": (5, 9, "/voices", "should be non-empty", None),
    "sample-rate-out-of-range": (5, 16, "/sample_rates/0", "less than the minimum of 8000",
                                 None),
    "unknown-key": (5, 1, "/sampel_rates", "unknown key 'sampel_rates'",
                    "did you mean 'sample_rates'?"),
    "duplicate-key": (5, 1, "/name", "duplicate key 'name' (first defined on line 1)", None),
    "not-a-mapping": (1, 1, "", "expected a mapping", None),
    "empty": (1, 1, "", "the file is empty", None),
    "syntax-error": (6, 1, "", "not valid YAML", None),
    "unsafe-tag": (5, 9, "", "could not determine a constructor", None),
    "two-documents": (5, 1, "", "expected a single document", None),
    "non-string-key": (5, 1, "/42", "key 42 is not a string", 'quote the key: "42"'),
    "not-utf8": (5, None, "", "not UTF-8: byte 0xe9", "UTF-8"),
}


def test_every_fixture_is_covered() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert on_disk == set(INVALID) | {"valid-minimal", "valid-full", "valid-config-file"}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_manifest_reports_where_and_what(case: str) -> None:
    line, column, pointer, words, hint = INVALID[case]
    with pytest.raises(ManifestError) as info:
        load_manifest(FIXTURES / case)
    problems = info.value.problems
    matching = [p for p in problems if words in p.message]
    assert matching, f"expected a problem saying {words!r}, saw {[p.message for p in problems]}"
    problem = matching[0]
    assert (problem.line, problem.column, problem.pointer) == (line, column, pointer)
    assert problem.file is not None and problem.file.endswith("vcs_plugin.yaml")
    if hint is not None:
        assert problem.hint is not None and hint in problem.hint
    # The rendered form is compiler style and names the file and line.
    rendered = problem.render()
    assert rendered.startswith(f"{problem.file}:{line}:")
    assert ": error: " in rendered


def test_all_problems_are_collected_at_once(tmp_path: Path) -> None:
    (tmp_path / "vcs_plugin.yaml").write_text(
        'name: "bad name"\nversion: banana\ndescription: ""\napi_version: 1.10\n'
        "platforms: [beos]\nsampel_rates: [1]\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    pointers = {p.pointer for p in info.value.problems}
    assert {"/name", "/version", "/description", "/api_version", "/platforms/0",
            "/sampel_rates"} <= pointers
    # Sorted by position, so the output reads top to bottom.
    lines = [p.line or 0 for p in info.value.problems]
    assert lines == sorted(lines)


def test_valid_full_manifest_fields() -> None:
    manifest = load_manifest(FIXTURES / "valid-full")
    assert manifest.name == "my-plugin"
    assert manifest.api_version == "1.2"
    assert manifest.core_version is not None and "1.2.5" in manifest.core_version
    assert manifest.platforms == ("linux", "macos")
    assert manifest.python_dependencies[0] == "numpy>=1.26"
    assert [d.kind for d in manifest.system_dependencies] == ["binary", "library"]
    assert manifest.system_dependencies[0].packages["dnf"] == "espeak-ng"
    assert manifest.network is False
    assert manifest.resources == {"memory_mb": 512, "cpu_seconds": 60, "timeout_seconds": 30}
    assert manifest.voices == ("en-us", "de")
    assert manifest.sample_rates == (16000, 22050)
    assert manifest.config_schema is not None
    assert manifest.config_schema["additionalProperties"] is False


def test_config_schema_from_package_file() -> None:
    manifest = load_manifest(FIXTURES / "valid-config-file")
    assert manifest.config_schema == {"type": "object",
                                      "properties": {"speed": {"type": "number"}}}


def test_manifest_file_path_and_text() -> None:
    path = FIXTURES / "valid-minimal" / "vcs_plugin.yaml"
    assert load_manifest(path).version == "1.0.0"
    assert parse_manifest(path.read_bytes()).name == "my-plugin"


def test_text_manifest_cannot_follow_a_config_schema_path() -> None:
    with pytest.raises(ManifestError, match="was given as text"):
        parse_manifest(b'name: a\nversion: "1"\ndescription: d\napi_version: "1.2"\n'
                       b"config_schema: c.json\n")


def _project(root: Path, *, name: str = "my-plugin", version: str = "1.0.0",
             layout: str = "flat") -> Path:
    pkg = root / ("src" if layout == "src" else "") / "my_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text("def register(registry):\n    return {}\n")
    (pkg / "vcs_plugin.yaml").write_text(
        (FIXTURES / "valid-minimal" / "vcs_plugin.yaml").read_text())
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f'[project.entry-points."vcs.plugins"]\nmy-plugin = "my_plugin.plugin"\n')
    return root


@pytest.mark.parametrize("layout", ["flat", "src"])
def test_project_directory_follows_the_entry_point(tmp_path: Path, layout: str) -> None:
    manifest = load_manifest(_project(tmp_path, layout=layout))
    assert manifest.name == "my-plugin"
    assert manifest.path is not None and manifest.path.endswith("my_plugin/vcs_plugin.yaml")


def test_project_without_manifest_says_where_it_looked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "my_plugin" / "vcs_plugin.yaml").unlink()
    with pytest.raises(ManifestError, match=r"no vcs_plugin\.yaml in the package of entry point "
                                            r"'my_plugin\.plugin'"):
        load_manifest(root)


def _wheel(path: Path, *, manifest: str | None, ep: str = "my_plugin.plugin") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("my_plugin/__init__.py", "")
        zf.writestr("my_plugin/plugin.py", "def register(registry):\n    return {}\n")
        if manifest is not None:
            zf.writestr("my_plugin/vcs_plugin.yaml", manifest)
            zf.writestr("my_plugin/config.schema.json", '{"type": "object"}')
        zf.writestr("my_plugin-1.0.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0.0\n")
        zf.writestr("my_plugin-1.0.0.dist-info/entry_points.txt",
                    f"[vcs.plugins]\nmy-plugin = {ep}\n")
    return path


def test_wheel_manifest_and_package_relative_config_schema(tmp_path: Path) -> None:
    text = (FIXTURES / "valid-minimal" / "vcs_plugin.yaml").read_text()
    whl = _wheel(tmp_path / "my_plugin-1.0.0-py3-none-any.whl",
                 manifest=text + "config_schema: config.schema.json\n")
    manifest = load_manifest(whl)
    assert manifest.config_schema == {"type": "object"}
    assert manifest.path is not None and manifest.path.endswith("!my_plugin/vcs_plugin.yaml")


def test_wheel_without_manifest(tmp_path: Path) -> None:
    whl = _wheel(tmp_path / "my_plugin-1.0.0-py3-none-any.whl", manifest=None)
    with pytest.raises(ManifestError, match=r"no vcs_plugin\.yaml at the root of the entry"):
        load_manifest(whl)


def test_corrupt_wheel_is_unreadable(tmp_path: Path) -> None:
    whl = tmp_path / "broken-1.0-py3-none-any.whl"
    whl.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ManifestError) as info:
        load_manifest(whl)
    assert info.value.details["unreadable"] is True
    assert "not a readable wheel" in info.value.problems[0].message


def test_identity_mismatch_is_reported() -> None:
    manifest = load_manifest(FIXTURES / "valid-minimal")
    assert check_identity(manifest, "My_Plugin", "1.0") == []  # PEP 503 and PEP 440 equality
    problems = check_identity(manifest, "other-plugin", "2.0.0")
    assert [p.pointer for p in problems] == ["/name", "/version"]
    assert "other-plugin" in problems[0].message and problems[1].hint == 'set version: "2.0.0"'


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    (tmp_path / "vcs_plugin.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match="too large or too deeply nested"):
        load_manifest(tmp_path)


def test_error_story_names_the_plugin_and_every_problem() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(FIXTURES / "unknown-key")
    story = str(info.value)
    assert story.splitlines()[0].startswith("[manifest-invalid] plugin 'my-plugin':")
    assert "unknown key 'sampel_rates'" in story


@pytest.mark.parametrize("api", ["1.3", "1.10", "2.0", "7.1"])
def test_future_api_version_is_left_to_compat(api: str) -> None:
    text = (FIXTURES / "valid-minimal" / "vcs_plugin.yaml").read_text()
    manifest = parse_manifest(text.replace('api_version: "1.2"', f'api_version: "{api}"'))
    assert manifest.api_version == api
