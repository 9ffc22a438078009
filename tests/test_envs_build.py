"""Real isolated envs: uv/pip venvs, locks, cache hits, tampering, races, offline, Poetry.

Every test here builds wheels or virtualenvs, so all are ``slow``.  They
share one session-scoped cache dir (``envs_cache``) so each fixture project
is built once; tests that must start cold use their own ``tmp_path`` cache.
Never the user's cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_envs import LOCKED, MANIFEST, TRANSITIVE, make_wheel
from vcs_conformance._seams import PluginEnv
from vcs_conformance.envs import IsolatedEnvProvider, list_entries
from vcs_conformance.envs._install import find_tools, installed_distributions
from vcs_conformance.errors import EnvBuildError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (sys.platform == "linux" and os.uname().machine == "x86_64"),
                       reason="fixture locks pin Linux x86_64 CPython 3.11 wheels"),
    pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                       reason="fixture locks pin CPython 3.11 wheels"),
]
KIT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def envs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs-cache")


@pytest.fixture(scope="session")
def locked_env(envs_cache: Path) -> PluginEnv:
    return IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two locked wheels of ``locked-plugin``, fetched once from the configured index."""
    house = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                           "--only-binary", ":all:", "-d", str(house), "six==1.16.0",
                           "idna==3.7"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot fetch the wheelhouse from the index: {proc.stderr[-300:]}")
    return house


def site_of(env: PluginEnv) -> Path:
    venv = env.python.parent.parent
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
        "site-packages"


def run_in(env: PluginEnv, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(env.python), "-I", "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)


def leftovers(cache: Path) -> list[str]:
    """Anything a failed build could have left: entries, temp dirs, wheel dirs in flight."""
    found = [p.name for p in (cache / "envs").iterdir()] if (cache / "envs").is_dir() else []
    found += [p.name for p in (cache / "wheels").glob(".building-*")] \
        if (cache / "wheels").is_dir() else []
    return sorted(n for n in found if not n.endswith(".lock"))


# -- a locked project ---------------------------------------------------------------

def test_locked_project_env_holds_exactly_the_lock(locked_env: PluginEnv,
                                                   envs_cache: Path) -> None:
    env = locked_env
    venv = env.python.parent.parent
    assert env.kind == "isolated" and env.python.name == "python"
    assert venv.is_relative_to(envs_cache)
    assert env.readonly_paths == (venv, Path(sys.base_prefix).resolve())
    assert (env.dist_name, env.entry_point, env.entry_module) == \
        ("vcs-fixture-envs", "vcs-fixture-envs", "vcs_fixture_envs.plugin")
    assert env.manifest_path == site_of(env) / "vcs_fixture_envs" / "vcs_plugin.yaml"
    assert env.manifest_path.is_file()
    assert installed_distributions(site_of(env)) == {
        "idna": "3.7", "six": "1.16.0", "vcs-fixture-envs": "0.1.0"}
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    info = env.info
    assert info["installer"] == "uv" and info["python_version"] == \
        ".".join(map(str, sys.version_info[:3]))
    assert set(info["timings"]) >= {"build", "venv", "install"}
    assert info["locked"] == {"idna": "3.7", "six": "1.16.0"}
    assert info["lock"].endswith("locked-plugin/poetry.lock")


def test_env_runs_the_plugin_and_none_of_the_kit(locked_env: PluginEnv) -> None:
    ok = run_in(locked_env, "import sys, vcs_fixture_envs.plugin as p; "
                            "print(sys.prefix != sys.base_prefix, p.register(None))")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split(" ", 1)[0] == "True"
    for kit_dep in ("yaml", "vcs_conformance", "pytest"):
        proc = run_in(locked_env, f"import {kit_dep}")
        assert "ModuleNotFoundError" in proc.stderr, kit_dep


def test_second_provider_gets_a_cache_hit(locked_env: PluginEnv, envs_cache: Path) -> None:
    again = IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED)
    assert again.info["cache_hit"] is True
    assert again.python == locked_env.python
    assert again.info["timings"]["build"] == 0.0  # the built wheel was reused


def test_tampered_env_is_detected_and_rebuilt(locked_env: PluginEnv, envs_cache: Path) -> None:
    evil = site_of(locked_env) / "zz_evil.pth"
    evil.write_text("import os\n")
    env = IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED)
    assert env.info["cache_hit"] is False
    assert env.info["rebuilt_reason"] == "unexpected file lib/python3.11/site-packages/zz_evil.pth"
    assert not evil.exists()
    six = site_of(env) / "six.py"
    six.write_text(six.read_text().replace("PY3 = ", "PY3 = False and "))
    env = IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED)
    assert env.info["rebuilt_reason"].startswith("changed file lib/python3.11/site-packages/six")
    assert "False and" not in (site_of(env) / "six.py").read_text()


def test_a_pyenv_shim_or_venv_python_maps_to_the_same_env(locked_env: PluginEnv,
                                                         envs_cache: Path) -> None:
    """The key uses the real base interpreter, so any path to it finds the same env."""
    for python in (shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}"),
                   str(locked_env.python)):
        assert python is not None
        env = IsolatedEnvProvider(cache_dir=envs_cache, python=Path(python))(LOCKED)
        assert env.python == locked_env.python and env.info["cache_hit"] is True


def test_half_built_entry_is_rebuilt(locked_env: PluginEnv, envs_cache: Path) -> None:
    entry = locked_env.python.parent.parent.parent
    (entry / "record.json").unlink()
    env = IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED)
    assert env.info["rebuilt_reason"] == "no record (an incomplete env)"
    assert (entry / "record.json").is_file()
    assert IsolatedEnvProvider(cache_dir=envs_cache)(LOCKED).info["cache_hit"] is True


def test_sdist_handle_keeps_its_lock(tmp_path: Path, envs_cache: Path) -> None:
    uv = find_tools("uv").uv or "uv"
    subprocess.run([uv, "build", "--sdist", "--quiet", "--out-dir", str(tmp_path), str(LOCKED)],
                   check=True, capture_output=True)
    sdist, = tmp_path.glob("*.tar.gz")
    env = IsolatedEnvProvider(cache_dir=envs_cache)(sdist)
    assert env.info["handle_kind"] == "sdist" and env.info["lock"].endswith("poetry.lock")
    assert installed_distributions(site_of(env)) == {
        "idna": "3.7", "six": "1.16.0", "vcs-fixture-envs": "0.1.0"}


def test_pip_installer_gives_the_same_env(locked_env: PluginEnv, envs_cache: Path,
                                          tmp_path: Path) -> None:
    # The installer is not part of the key (same content either way): use a cold cache.
    cache = _seeded_cache(envs_cache, tmp_path)
    env = IsolatedEnvProvider(cache_dir=cache, installer="pip")(LOCKED)
    assert env.info["installer"] == "pip" and env.info["cache_hit"] is False
    assert IsolatedEnvProvider(cache_dir=cache)(LOCKED).info["installer"] == "pip"
    assert installed_distributions(site_of(env)) == installed_distributions(site_of(locked_env))
    assert run_in(env, "import vcs_fixture_envs.plugin").returncode == 0


# -- transitive locks, manifest extras, no lock ----------------------------------------

def test_transitive_lock_plus_manifest_dependency(envs_cache: Path) -> None:
    env = IsolatedEnvProvider(cache_dir=envs_cache)(TRANSITIVE)
    installed = installed_distributions(site_of(env))
    assert {k: v for k, v in installed.items() if k not in ("six", "vcs-fixture-transitive")} \
        == env.info["locked"]
    assert "six" in installed and env.info["extra_dependencies"] == ["six>=1.16"]
    assert run_in(env, "import vcs_fixture_transitive.plugin").returncode == 0


def test_without_a_lock_the_resolve_is_recorded(tmp_path: Path, envs_cache: Path) -> None:
    manifest = MANIFEST + 'dependencies:\n  python:\n    - "idna==3.7"\n'
    wheel = make_wheel(tmp_path, "vcs-nolock", requires=("six==1.16.0",), manifest=manifest)
    env = IsolatedEnvProvider(cache_dir=envs_cache)(wheel)
    assert env.info["lock"] is None
    assert env.info["resolved"] == {"idna": "3.7", "six": "1.16.0", "vcs-nolock": "0.1.0"}
    record = json.loads((env.python.parent.parent.parent / "record.json").read_text())
    assert record["resolved"] == env.info["resolved"]


# -- concurrency ------------------------------------------------------------------------

def test_parallel_processes_build_once(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w", "vcs-race")
    code = ("import json, sys; from pathlib import Path; "
            "from vcs_conformance.envs import IsolatedEnvProvider; "
            "e = IsolatedEnvProvider(cache_dir=Path(sys.argv[1]))(sys.argv[2]); "
            "print(json.dumps([str(e.python), e.info['cache_hit']]))")
    env = {**os.environ, "PYTHONPATH": str(KIT_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "cache"), str(wheel)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(3)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert len({python for python, _ in results}) == 1
    assert sorted(hit for _, hit in results) == [False, True, True]
    assert [e.complete for e in list_entries(tmp_path / "cache")] == [True]


# -- offline ------------------------------------------------------------------------------

def _seeded_cache(envs_cache: Path, target: Path) -> Path:
    """A cold env cache that already holds the built wheels (so nothing needs a build)."""
    shutil.copytree(envs_cache / "wheels", target / "wheels",
                    ignore=shutil.ignore_patterns("*.lock", ".building-*"))
    return target


def test_offline_install_from_a_wheelhouse(locked_env: PluginEnv, envs_cache: Path,
                                           wheelhouse: Path, tmp_path: Path) -> None:
    cache = _seeded_cache(envs_cache, tmp_path)
    env = IsolatedEnvProvider(cache_dir=cache, offline=True, find_links=[wheelhouse])(LOCKED)
    assert env.info["offline"] is True and env.info["cache_hit"] is False
    assert installed_distributions(site_of(env)) == installed_distributions(site_of(locked_env))


def test_offline_names_the_missing_locked_package(locked_env: PluginEnv, envs_cache: Path,
                                                  wheelhouse: Path, tmp_path: Path) -> None:
    cache = _seeded_cache(envs_cache, tmp_path / "cache")
    partial = tmp_path / "house"
    partial.mkdir()
    for wheel in wheelhouse.glob("six-*.whl"):
        shutil.copy(wheel, partial)
    with pytest.raises(EnvBuildError) as info:
        IsolatedEnvProvider(cache_dir=cache, offline=True, find_links=[partial])(LOCKED)
    assert "lacks the locked package idna==3.7" in info.value.message
    assert info.value.details["missing"] == ["idna==3.7"]
    assert leftovers(cache) == []


# -- bad input ----------------------------------------------------------------------------

def test_a_package_that_fails_to_build(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "broken"\nversion = "0.1.0"\n')
    (project / "backend.py").write_text(
        "def build_wheel(*args, **kwargs):\n"
        "    raise RuntimeError('vcs-test: the compiler exploded')\n")
    cache = tmp_path / "cache"
    with pytest.raises(EnvBuildError) as info:
        IsolatedEnvProvider(cache_dir=cache)(project)
    assert "building a wheel from" in info.value.message
    assert "vcs-test: the compiler exploded" in info.value.message  # the tool's own words
    assert info.value.details["stage"] == "build"
    assert leftovers(cache) == []
    assert [p for p in (cache / "wheels").iterdir() if p.is_dir()] == []


def test_an_unresolvable_requirement(tmp_path: Path) -> None:
    manifest = MANIFEST + 'dependencies:\n  python:\n    - "six>=99"\n'
    wheel = make_wheel(tmp_path, "vcs-unresolvable", manifest=manifest)
    cache = tmp_path / "cache"
    with pytest.raises(EnvBuildError) as info:
        IsolatedEnvProvider(cache_dir=cache)(wheel)
    assert "resolving its dependencies" in info.value.message
    assert re.search(r"six>=99.*unsatisfiable|no version of six", info.value.message, re.S | re.I)
    assert leftovers(cache) == []


def test_a_bad_hash_in_the_lock_fails_without_building(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(LOCKED, project)
    lock = project / "poetry.lock"
    lock.write_text(lock.read_text().replace("sha256:8abb2f1d", "sha256:0abb2f1d"))
    cache = tmp_path / "cache"
    with pytest.raises(EnvBuildError) as info:
        IsolatedEnvProvider(cache_dir=cache)(project)
    assert "Hash mismatch" in info.value.message and "six" in info.value.message
    assert leftovers(cache) == []


# -- like Poetry -------------------------------------------------------------------------

def _poetry(project: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Beside this interpreter first: the kit's test extras install Poetry into the venv,
    # which is not on PATH when pytest runs as .venv/bin/python -m pytest.
    beside = Path(sys.executable).parent / "poetry"
    poetry = str(beside) if beside.is_file() else shutil.which("poetry")
    if poetry is None:
        pytest.skip("poetry is not installed")
    env = {**os.environ, "POETRY_VIRTUALENVS_IN_PROJECT": "true",
           "POETRY_CACHE_DIR": str(tmp / "poetry-cache"), "POETRY_NO_INTERACTION": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([poetry, "install", "--only", "main", *args], cwd=project, env=env,
                          capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.parametrize("fixture", [LOCKED, TRANSITIVE], ids=["flat", "transitive"])
def test_same_set_as_poetry_install_plan(fixture: Path, envs_cache: Path,
                                         tmp_path: Path) -> None:
    """Poetry's own installer plan for ``--only main`` (no download needed for a plan)."""
    project = tmp_path / fixture.name
    shutil.copytree(fixture, project)
    proc = _poetry(project, tmp_path, "--dry-run", "--no-root")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # "- Installing attrs (23.2.0): Skipped for the following reason: Not required" is no
    # install: only lines that end right after the version count.
    planned = {m.group(1).lower(): m.group(2)
               for m in re.finditer(r"Installing (\S+) \((\S+)\)\s*$", proc.stdout, re.M)}
    assert planned, proc.stdout
    env = IsolatedEnvProvider(cache_dir=envs_cache)(fixture)
    assert planned == env.info["locked"]
    installed = installed_distributions(site_of(env))
    assert {k: installed[k] for k in planned} == planned


@pytest.mark.parametrize("fixture", [LOCKED, TRANSITIVE], ids=["flat", "transitive"])
def test_same_set_as_real_poetry_install(fixture: Path, envs_cache: Path,
                                         tmp_path: Path) -> None:
    project = tmp_path / fixture.name
    shutil.copytree(fixture, project)
    proc = _poetry(project, tmp_path)
    if proc.returncode != 0:
        tail = "; ".join(line.strip(" |") for line in (proc.stdout + proc.stderr).splitlines()
                         if "Unable to find" in line or "not found" in line or "Error" in line)
        pytest.skip("poetry install cannot reach its index from here: "
                    f"{tail[:300] or proc.stderr[-300:]}")
    theirs = installed_distributions(next((project / ".venv" / "lib").glob("python*"))
                                     / "site-packages")
    env = IsolatedEnvProvider(cache_dir=envs_cache)(fixture)
    ours = installed_distributions(site_of(env))
    extras = {"six"} if env.info["extra_dependencies"] else set()  # the manifest's, not Poetry's
    # Poetry's virtualenv is seeded with installer tooling (pip; setuptools and wheel on
    # older Pythons): not the project's dependencies, and not in the lock.
    seeded = {"pip", "setuptools", "wheel"}
    assert {k: v for k, v in ours.items() if k not in extras} == \
        {k: v for k, v in theirs.items() if k not in seeded}
