"""vcs_conformance.envs without building virtualenvs: locks, handles, cache, system deps.

The slow end-to-end tests (real venvs, real uv/pip/Poetry) are in
``test_envs_build.py``; the helpers here (``make_wheel``, ``FIXTURES``) are
shared with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from vcs_conformance import cli
from vcs_conformance.envs import (
    IsolatedEnvProvider,
    LockSource,
    SystemRequirement,
    ensure_system_deps,
    list_entries,
    prune,
    read_lock,
)
from vcs_conformance.envs._cache import record_files, verify_files
from vcs_conformance.envs._handles import classify, inspect_wheel
from vcs_conformance.envs._install import host_marker_env
from vcs_conformance.envs._locks import poetry_constraint
from vcs_conformance.envs._sysdeps import install_command
from vcs_conformance.errors import EnvBuildError, SystemDependencyMissing

FIXTURES = Path(__file__).parent / "fixtures" / "envs"
LOCKED = FIXTURES / "locked-plugin"
TRANSITIVE = FIXTURES / "transitive-plugin"
LINUX_311 = {**host_marker_env(), "sys_platform": "linux", "platform_system": "Linux",
             "os_name": "posix", "python_version": "3.11", "python_full_version": "3.11.7"}
MANIFEST = """name: {name}
version: "{version}"
description: A plugin made by the envs tests.
api_version: "1.2"
"""


def source_of(project: Path, *, pylock: bool = False) -> LockSource:
    def read(name: str) -> str | None:
        path = project / name
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return LockSource(str(project), read("pyproject.toml"),
                      None if pylock else read("poetry.lock"), read("pylock.toml"), project)


def make_wheel(directory: Path, name: str = "vcs-made", version: str = "0.1.0", *,
               manifest: str | None = MANIFEST, requires: tuple[str, ...] = (),
               entry_point: bool = True) -> Path:
    """A minimal, valid wheel written with zipfile (no build backend, no index)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": "",
        f"{module}/plugin.py": "def register(registry):\n    return {}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
                            f"Name: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    if manifest is not None:
        files[f"{module}/vcs_plugin.yaml"] = manifest.format(name=name, version=version)
    if entry_point:
        files[f"{info}/entry_points.txt"] = f"[vcs.plugins]\n{name} = {module}.plugin\n"
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


# -- poetry.lock --------------------------------------------------------------------

def test_poetry_lock_gives_main_group_for_this_platform_with_hashes() -> None:
    locked = read_lock(source_of(LOCKED), LINUX_311)
    assert locked is not None and locked.kind == "poetry.lock"
    # dev group (iniconfig), win32-only colorama, py<3.11 tomli and the attrs extra are out.
    assert locked.pins() == {"idna": "3.7", "six": "1.16.0"}
    assert locked.fully_hashed
    assert locked.requirements_text().splitlines() == [
        "idna==3.7 --hash=sha256:"
        "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0",
        "six==1.16.0 --hash=sha256:"
        "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
    ]


@pytest.mark.parametrize(("change", "expected"), [
    ({"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
     {"colorama": "0.4.6", "idna": "3.7", "six": "1.16.0"}),
    ({"python_version": "3.10", "python_full_version": "3.10.4"},
     {"idna": "3.7", "six": "1.16.0", "tomli": "2.0.1"}),
])
def test_poetry_lock_markers_are_evaluated_for_the_target(change: dict[str, str],
                                                          expected: dict[str, str]) -> None:
    locked = read_lock(source_of(LOCKED), {**LINUX_311, **change})
    assert locked is not None and locked.pins() == expected


def test_poetry_lock_follows_transitive_deps_extras_and_markers() -> None:
    locked = read_lock(source_of(TRANSITIVE), LINUX_311)
    assert locked is not None
    # requests[socks] pulls pysocks (optional, via the extra); importlib-metadata and
    # zipp only below Python 3.10.
    assert locked.pins() == {"certifi": "2024.8.30", "charset-normalizer": "3.3.2",
                             "idna": "3.7", "pysocks": "1.7.1", "requests": "2.32.3",
                             "urllib3": "2.2.3"}
    old = read_lock(source_of(TRANSITIVE), {**LINUX_311, "python_version": "3.9",
                                            "python_full_version": "3.9.18"})
    assert old is not None and {"importlib-metadata", "zipp"} <= set(old.pins())
    requests = next(p for p in locked.packages if p.name == "requests")
    assert len(requests.hashes) == 2 and requests.has_wheel  # wheel and sdist hashes


def test_lock_version_1_format_with_categories_and_metadata_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "old"\nversion = "1.0"\n'
        '[tool.poetry.dependencies]\npython = "^3.8"\nsix = "^1.16"\n'
        '[tool.poetry.dev-dependencies]\niniconfig = "^2.0"\n')
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "iniconfig"\nversion = "2.0.0"\ndescription = ""\n'
        'category = "dev"\noptional = false\npython-versions = ">=3.7"\n\n'
        '[[package]]\nname = "six"\nversion = "1.16.0"\ndescription = ""\n'
        'category = "main"\noptional = false\npython-versions = ">=2.7"\n\n'
        '[metadata]\nlock-version = "1.1"\npython-versions = "^3.8"\ncontent-hash = "x"\n\n'
        '[metadata.files]\nsix = [\n    {file = "six-1.16.0-py2.py3-none-any.whl", hash = '
        '"sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"},\n]\n'
        'iniconfig = []\n')
    locked = read_lock(source_of(tmp_path), LINUX_311)
    assert locked is not None and locked.pins() == {"six": "1.16.0"}
    assert locked.packages[0].hashes == (
        "sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",)


@pytest.mark.parametrize(("dependency", "message"), [
    ('"six>=1.17"', "asks for six >=1.17 but poetry.lock pins 1.16.0"),
    ('"six>=1.16", "attrs>=23", "certifi"', "'certifi' of pyproject.toml is not in"),
])
def test_a_lock_that_disagrees_with_pyproject_is_an_error(tmp_path: Path, dependency: str,
                                                          message: str) -> None:
    shutil.copy(LOCKED / "poetry.lock", tmp_path / "poetry.lock")
    text = (LOCKED / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(
        text.replace('"six>=1.16,<2",', dependency + ","))
    with pytest.raises(EnvBuildError) as info:
        read_lock(source_of(tmp_path), LINUX_311)
    assert message in info.value.message
    assert "poetry lock" in (info.value.hint or "")


def test_unreadable_lock_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text((LOCKED / "pyproject.toml").read_text())
    (tmp_path / "poetry.lock").write_text("[[package]\nname = ")
    with pytest.raises(EnvBuildError, match=r"poetry.lock: poetry.lock is not valid TOML"):
        read_lock(source_of(tmp_path), LINUX_311)


@pytest.mark.parametrize(("constraint", "inside", "outside"), [
    ("^1.2.3", ["1.2.3", "1.9"], ["1.2.2", "2.0"]),
    ("^0.2.3", ["0.2.9"], ["0.3.0"]),
    ("~1.2", ["1.2.7"], ["1.3"]),
    (">= 1.2, < 2.0", ["1.5"], ["2.0"]),
    (">=1.5.6,<1.5.7 || >1.5.7", ["1.5.6", "1.7.1"], ["1.5.7"]),
    ("1.2.*", ["1.2.9"], ["1.3"]),
])
def test_poetry_constraints(constraint: str, inside: list[str], outside: list[str]) -> None:
    alternatives = poetry_constraint(constraint)
    for version in inside:
        assert any(s.contains(version) for s in alternatives), version
    for version in outside:
        assert not any(s.contains(version) for s in alternatives), version


# -- pylock.toml -------------------------------------------------------------------

PYLOCK = '''lock-version = "1.0"
created-by = "hand"
requires-python = ">=3.11"
default-groups = ["default"]

[[packages]]
name = "six"
version = "1.16.0"
[[packages.wheels]]
name = "six-1.16.0-py2.py3-none-any.whl"
hashes = {sha256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"}

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
[[packages.wheels]]
name = "colorama-0.4.6-py2.py3-none-any.whl"
hashes = {sha256 = "4f1d9991f5acc0ca119f9d443620b77f9d6b33703e51011c16baf57afb285fc6"}

[[packages]]
name = "idna"
version = "3.7"
[[packages.wheels]]
name = "idna-3.7-py3-none-any.whl"
hashes = {sha256 = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0"}
'''


def test_pylock_is_honoured_like_poetry_lock(tmp_path: Path) -> None:
    shutil.copy(LOCKED / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "pylock.toml").write_text(PYLOCK)
    locked = read_lock(source_of(tmp_path), LINUX_311)
    assert locked is not None and locked.kind == "pylock.toml"
    assert locked.pins() == {"idna": "3.7", "six": "1.16.0"} and locked.fully_hashed
    windows = read_lock(source_of(tmp_path), {**LINUX_311, "sys_platform": "win32"})
    assert windows is not None and "colorama" in windows.pins()


def test_pylock_that_misses_a_dependency_is_an_error(tmp_path: Path) -> None:
    shutil.copy(LOCKED / "pyproject.toml", tmp_path / "pyproject.toml")
    without_idna = PYLOCK.split('[[packages]]\nname = "idna"', maxsplit=1)[0]
    (tmp_path / "pylock.toml").write_text(without_idna)
    with pytest.raises(EnvBuildError, match=r"does not satisfy pyproject.toml: idna>=3.6"):
        read_lock(source_of(tmp_path), LINUX_311)


def test_no_lock_means_none() -> None:
    assert read_lock(LockSource("x", pyproject="[project]\nname='x'\n"), LINUX_311) is None


# -- handles and wheels ------------------------------------------------------------

def test_wheel_facts(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, requires=("six>=1",))
    facts = inspect_wheel(wheel)
    assert (facts.dist_name, facts.version, facts.entry_point, facts.entry_module) == \
        ("vcs-made", "0.1.0", "vcs-made", "vcs_made.plugin")
    assert facts.manifest_member == "vcs_made/vcs_plugin.yaml"
    assert facts.requires_dist == ("six>=1",)
    assert facts.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_wheel_without_manifest_is_an_env_build_error(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, manifest=None)
    with pytest.raises(EnvBuildError, match=r"has no vcs_plugin.yaml: expected "
                       r"vcs_made/vcs_plugin.yaml \(beside the entry module"):
        inspect_wheel(wheel)


def test_corrupt_wheel_is_an_env_build_error(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    data = wheel.read_bytes()
    wheel.write_bytes(data[: len(data) // 2])
    with pytest.raises(EnvBuildError, match="the wheel is corrupt"):
        inspect_wheel(wheel)


def test_handles_are_classified(tmp_path: Path) -> None:
    assert classify(LOCKED).kind == "project"
    assert classify(make_wheel(tmp_path)).kind == "wheel"
    sdist = tmp_path / "x-1.0.tar.gz"
    sdist.write_bytes(b"")
    assert classify(sdist).kind == "sdist"
    with pytest.raises(EnvBuildError, match=r"directory without pyproject\.toml"):
        classify(tmp_path)
    with pytest.raises(EnvBuildError, match="not a path, an installed distribution"):
        classify("vcs-no-such-distribution-here")


def _fake_dist(site: Path, name: str, direct_url: dict[str, object] | None) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_installed_editable_distribution_builds_from_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dist(tmp_path, "vcs-fixture-envs-editable",
               {"url": LOCKED.resolve().as_uri(), "dir_info": {"editable": True}})
    _fake_dist(tmp_path, "vcs-fixture-envs-plain", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    handle = classify("vcs-fixture-envs-editable")
    assert (handle.kind, handle.path) == ("project", LOCKED.resolve())
    assert handle.via == "installed vcs-fixture-envs-editable 0.1.0"
    with pytest.raises(EnvBuildError, match="cannot be rebuilt into a wheel") as info:
        classify("vcs-fixture-envs-plain")
    assert "install it editable" in (info.value.hint or "")


def test_offline_without_a_wheelhouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnvBuildError, match="offline mode needs a wheelhouse"):
        IsolatedEnvProvider(cache_dir=tmp_path, offline=True)


def test_cache_dir_comes_from_the_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCS_CONFORMANCE_CACHE_DIR", str(tmp_path / "c"))
    assert IsolatedEnvProvider().cache_dir == tmp_path / "c"


# -- cache records, list, prune, CLI -----------------------------------------------

def test_record_detects_changed_added_and_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "venv"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "a.py").write_text("A = 1\n")
    os.symlink("lib/a.py", root / "link")
    recorded = record_files(root)
    assert verify_files(root, recorded) is None
    stat = (root / "lib" / "a.py").stat()
    (root / "lib" / "a.py").write_text("A = 2\n")  # same size; mtime put back
    os.utime(root / "lib" / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert verify_files(root, recorded) == "changed file lib/a.py (content)"
    (root / "lib" / "a.py").write_text("A = 1\n")
    (root / "lib" / "zz_evil.pth").write_text("import os\n")
    assert verify_files(root, recorded) == "unexpected file lib/zz_evil.pth"
    (root / "lib" / "zz_evil.pth").unlink()
    (root / "link").unlink()
    assert verify_files(root, recorded) == "missing file link"


def test_bytecode_written_later_is_dropped_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "venv"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text("X = 1\n")
    recorded = record_files(root)
    (root / "pkg" / "__pycache__").mkdir()
    pyc = root / "pkg" / "__pycache__" / "m.cpython-311.pyc"
    pyc.write_bytes(b"forged")
    assert verify_files(root, recorded) is None
    assert not pyc.exists()


def _fake_entry(cache: Path, key: str, age: float, *, complete: bool = True) -> Path:
    entry = cache / "envs" / key
    (entry / "venv").mkdir(parents=True)
    (entry / "venv" / "f").write_bytes(b"x" * 100)
    if complete:
        (entry / "record.json").write_text(json.dumps(
            {"dist_name": f"plugin-{key[:3]}", "version": "1.0", "python_version": "3.11.7",
             "installer": "uv", "created": 0}))
    (entry / "last-used").touch()
    old = os.path.getmtime(entry / "last-used") - age
    os.utime(entry / "last-used", (old, old))
    return entry


def test_list_and_prune_by_age(tmp_path: Path) -> None:
    _fake_entry(tmp_path, "aaa111", age=10 * 86400)
    _fake_entry(tmp_path, "bbb222", age=60)
    leftover = tmp_path / "envs" / ".building-ccc333-xyz"
    (leftover / "venv").mkdir(parents=True)
    entries = {e.key: e for e in list_entries(tmp_path)}
    assert set(entries) == {"aaa111", "bbb222", ".building-ccc333-xyz"}
    assert entries["aaa111"].complete and not entries[".building-ccc333-xyz"].complete
    assert entries["aaa111"].size_bytes >= 100
    removed = prune(tmp_path, older_than=86400)
    assert {e.key for e in removed} == {"aaa111", ".building-ccc333-xyz"}
    assert [e.key for e in list_entries(tmp_path)] == ["bbb222"]
    assert [e.key for e in prune(tmp_path)] == ["bbb222"]
    assert list_entries(tmp_path) == []


def test_prune_skips_an_entry_in_use(tmp_path: Path) -> None:
    from filelock import FileLock

    _fake_entry(tmp_path, "aaa111", age=10 * 86400)
    with FileLock(str(tmp_path / "envs" / "aaa111.lock")):
        assert prune(tmp_path) == []
    assert [e.key for e in prune(tmp_path)] == ["aaa111"]


def test_cache_cli_list_and_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_entry(tmp_path, "aaa111", age=3 * 86400)
    _fake_entry(tmp_path, "bbb222", age=0)
    assert cli.main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "plugin-aaa 1.0" in out and "2 environments" in out
    assert cli.main(["cache", "prune", "--older-than", "2d", "--cache-dir", str(tmp_path),
                     "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["key"] for e in data["removed"]] == ["aaa111"]
    assert cli.main(["cache", "list", "--cache-dir", str(tmp_path), "--format", "json"]) == 0
    assert [e["key"] for e in json.loads(capsys.readouterr().out)["entries"]] == ["bbb222"]
    assert cli.main(["cache", "prune", "--older-than", "soon"]) == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


# -- system dependencies -----------------------------------------------------------

NEEDS = [SystemRequirement("sh"),
         SystemRequirement("c", "library"),
         SystemRequirement("vcs-no-such-binary", packages={"apt": "vcs-no-such-pkg",
                                                           "dnf": "vcs-no-such-rpm",
                                                           "brew": "vcs-no-such-formula"}),
         SystemRequirement("vcsnosuchlib", "library", packages={"apt": "libvcsnosuch0"}),
         SystemRequirement("vcs-unpackaged-tool")]


@pytest.mark.parametrize(("manager", "command"), [
    ("apt", "apt-get install -y --no-install-recommends vcs-no-such-pkg libvcsnosuch0"),
    ("dnf", "dnf install -y vcs-no-such-rpm"),
    ("brew", "brew install vcs-no-such-formula"),
])
def test_missing_system_deps_are_listed_at_once_with_the_install_command(
        manager: str, command: str) -> None:
    with pytest.raises(SystemDependencyMissing) as info:
        ensure_system_deps(NEEDS, plugin="p", manager=manager)
    err = info.value
    assert "vcs-no-such-binary (binary), vcsnosuchlib (library), vcs-unpackaged-tool " \
           "(binary)" in err.message
    assert command in err.message and command in (err.details["command"] or "")
    assert "for vcs-unpackaged-tool" in err.message and "install it by hand" in err.message
    assert "sh (binary)" not in err.message and "c (library)" not in err.message
    assert [m["name"] for m in err.details["missing"]] == \
        ["vcs-no-such-binary", "vcsnosuchlib", "vcs-unpackaged-tool"]


def test_install_command_uses_sudo_when_not_root() -> None:
    assert install_command("apt", ["x"], root=False)[:3] == ["sudo", "-n", "apt-get"]
    assert install_command("apt", ["x"], root=True)[0] == "apt-get"


def test_present_system_deps_pass() -> None:
    assert ensure_system_deps(NEEDS[:2]) == []


needs_root_apt = pytest.mark.skipif(
    not (shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="runs apt-get as root (Debian-family machine, root)")


@needs_root_apt
def test_installing_a_system_package_that_does_not_exist_quotes_apt() -> None:
    with pytest.raises(EnvBuildError) as info:
        ensure_system_deps([NEEDS[2]], install=True, manager="apt")
    assert not isinstance(info.value, SystemDependencyMissing)
    assert "vcs-no-such-pkg" in info.value.message
    assert "Unable to locate package" in info.value.message


@needs_root_apt
def test_installed_package_that_does_not_provide_the_binary_is_reported() -> None:
    # coreutils pinned to the version installed now: apt succeeds without changing
    # anything, and the binary it was supposed to provide is still missing.
    import subprocess

    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "coreutils"],
                             capture_output=True, text=True, check=True).stdout.strip()
    pinned = f"coreutils={version}"
    req = SystemRequirement("vcs-not-in-coreutils", packages={"apt": pinned})
    with pytest.raises(SystemDependencyMissing, match="still missing after installing "
                       f"{re.escape(pinned)}"):
        ensure_system_deps([req], install=True, manager="apt")


def test_provider_reports_missing_system_deps_before_building(tmp_path: Path) -> None:
    manifest = MANIFEST + ("dependencies:\n  system:\n    - name: vcs-no-such-binary\n"
                           "      packages:\n        apt: vcs-no-such-pkg\n")
    wheel = make_wheel(tmp_path / "w", manifest=manifest)
    provider = IsolatedEnvProvider(cache_dir=tmp_path / "cache")
    with pytest.raises(SystemDependencyMissing, match="vcs-no-such-binary"):
        provider(wheel)
    assert [p.name for p in (tmp_path / "cache" / "envs").iterdir()
            if not p.name.endswith(".lock")] == []


def test_provider_rejects_wheel_without_manifest_and_leaves_nothing(tmp_path: Path) -> None:
    provider = IsolatedEnvProvider(cache_dir=tmp_path / "cache")
    with pytest.raises(EnvBuildError, match=r"has no vcs_plugin\.yaml"):
        provider(make_wheel(tmp_path / "w", manifest=None))
    assert list_entries(tmp_path / "cache") == []



def test_provider_rejects_a_stale_lock_before_building(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(LOCKED, project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six>=1.16,<2"', '"six>=1.17"'))
    provider = IsolatedEnvProvider(cache_dir=tmp_path / "cache")
    with pytest.raises(EnvBuildError, match=r"six >=1\.17 but poetry\.lock pins 1\.16\.0"):
        provider(project)
    assert not (tmp_path / "cache" / "wheels").exists()
    assert list_entries(tmp_path / "cache") == []


def test_importlib_temp_bytecode_file_is_not_tampering(tmp_path: Path) -> None:
    root = tmp_path / "venv"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    recorded = record_files(root)
    (root / "pkg" / "__pycache__" / "m.cpython-311.pyc.140234").write_bytes(b"half")
    assert verify_files(root, recorded) is None


def test_provider_rejects_a_corrupt_wheel_and_leaves_nothing(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w")
    wheel.write_bytes(wheel.read_bytes()[:200])
    with pytest.raises(EnvBuildError, match="the wheel is corrupt"):
        IsolatedEnvProvider(cache_dir=tmp_path / "cache")(wheel)
    assert list_entries(tmp_path / "cache") == []


@needs_root_apt
def test_provider_with_a_system_package_that_does_not_exist(tmp_path: Path) -> None:
    manifest = MANIFEST + ("dependencies:\n  system:\n    - name: vcs-no-such-binary\n"
                           "      packages:\n        apt: vcs-no-such-pkg\n")
    provider = IsolatedEnvProvider(cache_dir=tmp_path / "cache", install_system_deps=True)
    with pytest.raises(EnvBuildError) as info:
        provider(make_wheel(tmp_path / "w", manifest=manifest))
    assert "Unable to locate package vcs-no-such-pkg" in info.value.message
    assert list_entries(tmp_path / "cache") == []
