"""The matrix plugin list (TOML) and the cells it defines.

Kept apart from the runner because the noxfile, the CLI's ``plan`` (CI
fan-out) and the gate all need the list without running anything.  Every
mistake in the file is a :class:`MatrixConfigError` naming the file and the
key, never a traceback: the list is hand-edited by plugin authors and the
core team.

Format (version 1)::

    cores = ["1.0", "1.1", "1.2"]      # default: every core the kit emulates
    shim_window = 1                     # default: SPEC 1's guaranteed window
    pytest_args = ["--vcs-profile=quick"]

    [[plugin]]
    id = "api-1-0"                      # default: the directory or distribution name
    path = "plugins/api-1-0"            # or name = "an-installed-distribution"
    extra = ["1.2+w2"]                  # extra cells: core 1.2 with shim window 2
    expect = { "1.0" = "pass", "1.1" = "shimmed", "1.2" = "skipped:too-old-for-window",
               "1.2+w2" = "shimmed" }
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._api import CORE_FOR_API, DEFAULT_SHIM_WINDOW, KNOWN_API_VERSIONS
from .compat import RULES, InvalidVersionString, parse_api
from .errors import MatrixConfigError

__all__ = ["STATUSES", "Cell", "Expectation", "MatrixList", "PluginEntry",
           "check_named_plugins", "load_list", "parse_expectation"]

#: Cell statuses, best first.
STATUSES: tuple[str, ...] = ("pass", "shimmed", "skipped", "fail", "error")
_LIST_KEYS = {"version", "cores", "shim_window", "pytest_args", "plugin"}
_PLUGIN_KEYS = {"id", "path", "name", "extra", "expect"}


@dataclass(frozen=True)
class Cell:
    """One run: a plugin of the list on one core with one shim window."""

    plugin: str
    core: str
    window: int
    #: ``1.2.0``, or ``1.2.0+w2`` when the window differs from the list's.
    column: str

    @property
    def key(self) -> str:
        return f"{self.plugin}@{self.column}"


@dataclass(frozen=True)
class Expectation:
    """What a cell must give: a status, plus the rule (skipped) or failing ids (fail)."""

    status: str
    rule: str | None = None
    failing: tuple[str, ...] | None = None

    def text(self) -> str:
        if self.rule:
            return f"{self.status}:{self.rule}"
        if self.failing:
            return f"{self.status}:{','.join(self.failing)}"
        return self.status


@dataclass(frozen=True)
class PluginEntry:
    """A plugin of the list: a project/sdist/wheel path or an installed name."""

    id: str
    source: str
    kind: str  # "path" or "name"
    #: Extra cells with another shim window, as ``(core, window)``.
    extra: tuple[tuple[str, int], ...] = ()
    expect: Mapping[str, Expectation] = field(default_factory=dict)


@dataclass(frozen=True)
class MatrixList:
    """The plugin list (TOML): which plugins, on which cores (and extra windows)."""

    plugins: tuple[PluginEntry, ...]
    cores: tuple[str, ...] = tuple(CORE_FOR_API[a] for a in KNOWN_API_VERSIONS)
    shim_window: int = DEFAULT_SHIM_WINDOW
    pytest_args: tuple[str, ...] = ()
    path: Path | None = None

    def cells(self) -> list[Cell]:
        """Every cell, plugin-major in list order: the list's cores, then the extra cells."""
        out = []
        for entry in self.plugins:
            for core in self.cores:
                out.append(Cell(entry.id, core, self.shim_window, core))
            for core, window in entry.extra:
                out.append(Cell(entry.id, core, window, f"{core}+w{window}"))
        return out

    def columns(self) -> list[str]:
        cols = list(self.cores)
        for entry in self.plugins:
            cols.extend(f"{c}+w{w}" for c, w in entry.extra if f"{c}+w{w}" not in cols)
        return cols

    def plugin(self, plugin_id: str) -> PluginEntry:
        for entry in self.plugins:
            if entry.id == plugin_id:
                return entry
        raise MatrixConfigError(f"no plugin {plugin_id!r} in {self.path or 'the list'} (it has: "
                                f"{', '.join(e.id for e in self.plugins)})")

    def select(self, keys: Iterable[str]) -> list[Cell]:
        """The cells named by ``keys`` (``plugin@core[+wN]``; ``1.2`` means ``1.2.0``)."""
        by_key = {c.key: c for c in self.cells()}
        wanted, unknown = set(), []
        for key in keys:
            normal = _normal_key(key)
            if normal in by_key:
                wanted.add(normal)
            else:
                unknown.append(key)
        if unknown:
            raise MatrixConfigError(f"unknown cell(s) {', '.join(unknown)} for "
                                    f"{self.path or 'the list'}; cells are plugin@core[+wN], "
                                    f"one of: {', '.join(by_key)}")
        return [c for c in self.cells() if c.key in wanted]


def _normal_key(key: str) -> str:
    plugin, _, column = key.partition("@")
    core, plus, window = column.partition("+")
    try:
        return f"{plugin}@{_core_version(core, key)}{plus}{window}"
    except MatrixConfigError:
        return key


# -- the list file ---------------------------------------------------------------------

def _core_version(raw: object, where: str) -> str:
    """``"1.2"`` -> the emulated core ``"1.2.0"``; a full version must serve a known API."""
    if not isinstance(raw, str):
        raise MatrixConfigError(f"{where}: a core is a string like \"1.2\", not {raw!r}")
    try:
        major, minor = parse_api(raw)
    except InvalidVersionString as exc:
        raise MatrixConfigError(f"{where}: {exc}") from None
    api = f"{major}.{minor}"
    if api not in KNOWN_API_VERSIONS:
        raise MatrixConfigError(f"{where}: core {raw} serves API {api}, which the kit does not "
                                f"emulate (it emulates {', '.join(KNOWN_API_VERSIONS)})")
    return CORE_FOR_API[api] if raw.count(".") == 1 else raw


def parse_expectation(text: object, where: str) -> Expectation:
    """``pass``, ``shimmed``, ``skipped:RULE``, ``fail``, ``fail:id,id`` or ``error``."""
    if not isinstance(text, str):
        raise MatrixConfigError(f"{where}: an expectation is a string, not {text!r}")
    status, _, detail = text.strip().partition(":")
    if status not in STATUSES:
        raise MatrixConfigError(f"{where}: {text!r} does not start with one of "
                                f"{', '.join(STATUSES)}")
    if status == "skipped":
        if detail not in RULES:
            raise MatrixConfigError(f"{where}: {text!r}: a skip names its rule, one of "
                                    f"{', '.join(RULES)}")
        return Expectation(status, rule=detail)
    if status == "fail" and detail:
        return Expectation(status, failing=tuple(sorted(i.strip() for i in detail.split(",")
                                                        if i.strip())))
    if detail:
        raise MatrixConfigError(f"{where}: {text!r}: only skipped and fail take a detail")
    return Expectation(status)


def _extra_cell(raw: object, where: str) -> tuple[str, int]:
    """``"1.2+w2"`` -> ``("1.2.0", 2)``: a core run with another shim window."""
    core, plus, window = str(raw).partition("+w")
    if not isinstance(raw, str) or not plus or not window.isdigit():
        raise MatrixConfigError(f"{where}: {raw!r} is not CORE+wWINDOW, e.g. \"1.2+w2\"")
    return _core_version(core, where), int(window)


def _int(value: object, where: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise MatrixConfigError(f"{where}: expected an integer >= {low}, not {value!r}")
    return value


def _plugin_entry(raw: object, index: int, base: Path, cores: Sequence[str],
                  where: str) -> PluginEntry:
    at = f"{where}: plugin[{index}]"
    if not isinstance(raw, dict):
        raise MatrixConfigError(f"{at}: a [[plugin]] table, not {raw!r}")
    unknown = sorted(set(raw) - _PLUGIN_KEYS)
    if unknown:
        raise MatrixConfigError(f"{at}: unknown key(s) {', '.join(unknown)} (known: "
                                f"{', '.join(sorted(_PLUGIN_KEYS))})")
    if ("path" in raw) == ("name" in raw):
        raise MatrixConfigError(f"{at}: give exactly one of path (a project dir, sdist or "
                                "wheel, relative to the list) or name (an installed "
                                "distribution or entry point)")
    if "path" in raw:
        if not isinstance(raw["path"], str) or not raw["path"]:
            raise MatrixConfigError(f"{at}.path: a non-empty string, not {raw['path']!r}")
        resolved = (base / raw["path"]).resolve()
        if not resolved.exists():
            raise MatrixConfigError(f"{at}.path: {raw['path']!r} does not exist (looked at "
                                    f"{resolved})")
        source, kind, default_id = str(resolved), "path", resolved.name
    else:
        if not isinstance(raw["name"], str) or not raw["name"].strip():
            raise MatrixConfigError(f"{at}.name: a non-empty string, not {raw['name']!r}")
        source, kind, default_id = raw["name"].strip(), "name", raw["name"].strip()
    plugin_id = raw.get("id", default_id)
    if not isinstance(plugin_id, str) or not plugin_id or any(c in plugin_id for c in "@+ /"):
        raise MatrixConfigError(f"{at}.id: {plugin_id!r} must be a non-empty string without "
                                "'@', '+', '/' or spaces")
    extra_raw = raw.get("extra", [])
    if not isinstance(extra_raw, list):
        raise MatrixConfigError(f"{at}.extra: a list like [\"1.2+w2\"], not {extra_raw!r}")
    extra = tuple(dict.fromkeys(_extra_cell(e, f"{at}.extra[{i}]")
                                for i, e in enumerate(extra_raw)))
    columns = list(cores) + [f"{c}+w{w}" for c, w in extra]
    expect: dict[str, Expectation] = {}
    expect_raw = raw.get("expect", {})
    if not isinstance(expect_raw, dict):
        raise MatrixConfigError(f"{at}.expect: a table of column = expectation")
    for column, text in expect_raw.items():
        core, plus, window = column.partition("+")
        try:
            normalised = _core_version(core, f"{at}.expect") + plus + window
        except MatrixConfigError:
            normalised = column
        if normalised not in columns:
            raise MatrixConfigError(f"{at}.expect: {column!r} is not a column of this plugin "
                                    f"(columns: {', '.join(columns)})")
        expect[normalised] = parse_expectation(text, f"{at}.expect.{column!r}")
    return PluginEntry(plugin_id, source, kind, extra, expect)


def load_list(path: Path | str) -> MatrixList:
    """Read and check a plugin list; every mistake names the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MatrixConfigError(f"{path}: cannot read the plugin list: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MatrixConfigError(f"{path}: not valid TOML: {exc}") from None
    where = str(path)
    unknown = sorted(set(data) - _LIST_KEYS)
    if unknown:
        raise MatrixConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: "
                                f"{', '.join(sorted(_LIST_KEYS))})")
    if data.get("version", 1) != 1:
        raise MatrixConfigError(f"{where}: version {data['version']!r}: this kit reads version 1")
    cores_raw = data.get("cores", list(KNOWN_API_VERSIONS))
    if not isinstance(cores_raw, list) or not cores_raw:
        raise MatrixConfigError(f"{where}: cores must be a non-empty list like [\"1.0\", \"1.2\"]")
    cores = tuple(dict.fromkeys(_core_version(c, f"{where}: cores[{i}]")
                                for i, c in enumerate(cores_raw)))
    window = _int(data.get("shim_window", DEFAULT_SHIM_WINDOW), f"{where}: shim_window")
    args = data.get("pytest_args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise MatrixConfigError(f"{where}: pytest_args must be a list of strings")
    plugins_raw = data.get("plugin", [])
    if not isinstance(plugins_raw, list) or not plugins_raw:
        raise MatrixConfigError(f"{where}: no [[plugin]] entries: the list names no plugin")
    plugins = tuple(_plugin_entry(raw, i, path.parent, cores, where)
                    for i, raw in enumerate(plugins_raw))
    seen: set[str] = set()
    for entry in plugins:
        if entry.id in seen:
            raise MatrixConfigError(f"{where}: plugin id {entry.id!r} appears twice; give one "
                                    "of them an explicit id")
        seen.add(entry.id)
    return MatrixList(plugins, cores, window, tuple(args), path.resolve())


# -- plugins listed by name ------------------------------------------------------------

def _env_is_current(pytest_args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether the cells run with ``--vcs-env=current`` (given to pytest or in the env)."""
    args = list(pytest_args)
    given = None  # the last --vcs-env on the command line wins, then the environment
    for index, arg in enumerate(args):
        if arg.startswith("--vcs-env="):
            given = arg.partition("=")[2]
        elif arg == "--vcs-env" and index + 1 < len(args):
            given = args[index + 1]
    if given is not None:
        return given == "current"
    return environ.get("VCS_CONFORMANCE_ENV") == "current"


def _name_problem(name: str, env_current: bool) -> str | None:
    """Why the cells cannot use the installed plugin ``name``, or None when they can."""
    from importlib import metadata

    from ._api import ENTRY_POINT_GROUP

    try:
        metadata.distribution(name)
        found = True
    except metadata.PackageNotFoundError:
        found = any(ep.name == name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    if not found:
        return "is not installed in this Python, neither as a distribution nor as a " \
               f"{ENTRY_POINT_GROUP!r} entry point"
    if env_current:
        return None
    from .envs._handles import classify
    from .errors import VCSError

    try:
        classify(name)
    except VCSError as exc:  # installed, but not from a source an isolated env can rebuild
        return f"cannot be given an isolated env: {exc.message}"
    return None


def check_named_plugins(mlist: MatrixList, cells: Iterable[Cell] | None = None, *,
                        pytest_args: Sequence[str] = (),
                        environ: Mapping[str, str] | None = None) -> None:
    """Fail before anything runs when a plugin listed by ``name`` cannot be found.

    Why up front: every cell of such a plugin would otherwise end as
    ``error`` with a pytest log to read, once per core; a named plugin is
    looked up in the interpreter that runs the cells (this one), so it must
    be installed there, from a local source unless the cells use
    ``--vcs-env=current``.
    """
    import os
    import sys

    wanted = None if cells is None else {c.plugin for c in cells}
    env_current = _env_is_current([*mlist.pytest_args, *pytest_args],
                                  os.environ if environ is None else environ)
    for index, entry in enumerate(mlist.plugins):
        if entry.kind != "name" or (wanted is not None and entry.id not in wanted):
            continue
        problem = _name_problem(entry.source, env_current)
        if problem is not None:
            raise MatrixConfigError(
                f"{mlist.path or 'the list'}: plugin[{index}] {entry.id!r} (name = "
                f"{entry.source!r}) {problem} ({sys.executable})",
                hint=f"install it where the matrix runs (pip install -e PATH/TO/{entry.source}, "
                "or pip install a wheel or sdist), or list it as path = \"...\" instead of "
                "name; for `nox -s gate` set VCS_GATE_INSTALL (e.g. \"-e ../my-plugin\") to "
                "install it into the session; an index install works only with "
                "pytest_args = [\"--vcs-env=current\"]")
