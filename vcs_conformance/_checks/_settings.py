"""Every ``--vcs-*`` option, its ini key, its environment variable, one help text.

Modelled on pytest-timeout: one option group; each flag ``--vcs-NAME`` has
the ini key ``vcs_NAME`` with the same help, and (except ``plugin`` and
``replay``, the two that switch the kit on, so a stray variable never
activates it in an unrelated suite) the environment variable
``VCS_CONFORMANCE_NAME``.  Precedence: command line, then environment, then
ini file, then the default.

Inert means inert: while neither ``--vcs-plugin`` nor ``--vcs-replay`` (or
their ini keys) is given, no other value is read or parsed, so a malformed
``VCS_CONFORMANCE_*`` variable or a string ``--hypothesis-seed`` cannot
break a suite that never asked for the kit.  Once active, a bad value is a
``pytest.UsageError`` naming the flag or variable and the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .._api import CURRENT_CORE, DEFAULT_SHIM_WINDOW
from ._catalogue import CURRENT_SUITE

PROFILES = ("quick", "ci", "nightly", "dev")
#: Examples per generated check for each profile (overridable per hook).
PROFILE_EXAMPLES = {"quick": 10, "ci": 25, "dev": 25, "nightly": 200}
HOOKS = ("init", "preprocess", "train", "synthesize")


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    default: Any = None
    kind: str = "string"  # string | bool | int | list
    choices: tuple[str, ...] | None = None
    env: bool = True

    @property
    def flag(self) -> str:
        return "--vcs-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "vcs_" + self.name

    @property
    def envvar(self) -> str:
        return "VCS_CONFORMANCE_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("plugin", "plugin under test: a project dir, sdist, wheel, distribution or entry "
           "point name (repeatable; ini: one per line). Without it the kit is inert.",
           kind="list", env=False),
    Option("core_version", f"core version the host emulates (default {CURRENT_CORE})",
           CURRENT_CORE),
    Option("shim_window", "how many minor API versions back the host shims "
           f"(default {DEFAULT_SHIM_WINDOW}, the guaranteed window)", DEFAULT_SHIM_WINDOW,
           kind="int"),
    Option("sandbox", "sandbox level for the plugin's worker (default auto: the strongest "
           "this machine gives)", "auto", choices=("auto", "strict", "basic", "off")),
    Option("env", "isolated: a cached virtualenv with exactly the plugin's locked "
           "dependencies (default); current: this interpreter", "isolated",
           choices=("isolated", "current")),
    Option("profile", "example counts and budgets: quick, ci (default; derandomized, no "
           "deadline, no example database), nightly, dev (random, keeps failing examples)",
           "ci", choices=PROFILES),
    Option("examples", "examples per generated check (overrides the profile)", kind="int"),
    *(Option(f"examples_{hook}", f"examples for the {hook} checks (overrides --vcs-examples)",
             kind="int") for hook in HOOKS),
    Option("install_system_deps", "install missing system dependencies of the manifest with "
           "the platform's package manager", False, kind="bool"),
    Option("report", "write a JSON report (schemas/common/report.schema.json) to this path"),
    Option("strict_compat", "an incompatible plugin fails instead of being skipped", False,
           kind="bool"),
    Option("expect", "YAML file of expected failures by check id "
           "(schemas/common/expectations.schema.json)"),
    Option("update_expect", "rewrite the --vcs-expect file from this run's results", False,
           kind="bool"),
    Option("suite", f"catalogue version to hold the plugin to (default {CURRENT_SUITE}); newer "
           "checks run as warnings", CURRENT_SUITE),
    Option("min_checks", "fail the run when fewer checks than this ran (passed or failed)",
           0, kind="int"),
    Option("replay", "rerun exactly the call of a replay bundle (vcs-repro/...json); "
           "switches the kit on, so it has no environment variable", env=False),
    Option("repro_dir", "where failing checks write replay bundles (default: "
           "<rootdir>/vcs-repro)"),
    Option("offline", "build plugin envs from --vcs-find-links only", False, kind="bool"),
    Option("find_links", "wheelhouse directory for offline installs", kind="list"),
)
BY_NAME = {o.name: o for o in OPTIONS}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("vcs-conformance", "VCS plugin conformance (vcs-conformance)")
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": "vcs_" + opt.name, "help": opt.help, "default": None}
        if opt.kind == "bool":
            kwargs["action"] = "store_true"
        elif opt.kind == "list":
            kwargs["action"] = "append"
        elif opt.kind == "int":
            kwargs["type"] = int
        if opt.choices:
            kwargs["choices"] = list(opt.choices)
        group.addoption(opt.flag, **kwargs)
        # Bools are read as strings and converted by ``_convert``: pytest's own "bool" ini
        # type fails with "invalid truth value" and does not say which key.
        ini_type = "linelist" if opt.kind == "list" else "string"
        parser.addini(opt.ini, opt.help, type=ini_type, default=None)  # type: ignore[arg-type]


def SettingsError(message: str) -> pytest.UsageError:
    """A bad option value, named with where it came from (pytest prints it, no traceback)."""
    return pytest.UsageError(message)


def _convert(opt: Option, value: Any, source: str) -> Any:
    try:
        if opt.kind == "int":
            return int(value)
        if opt.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if opt.kind == "list":
            if isinstance(value, (list, tuple)):
                return [str(v) for v in value if str(v).strip()]
            return [v for v in str(value).split(os.pathsep) if v.strip()]
    except ValueError:
        raise SettingsError(f"{source}: {value!r} is not a valid {opt.kind} for "
                            f"{opt.flag}") from None
    if opt.choices and value not in opt.choices:
        raise SettingsError(f"{source}: {value!r} is not one of {', '.join(opt.choices)} for "
                            f"{opt.flag}")
    return value


def resolve(config: pytest.Config, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Each option's value and where it came from (``cli``, ``env``, ``ini``, ``default``)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        cli = config.getoption("vcs_" + opt.name)
        if cli is not None and cli is not False:
            values[opt.name] = _convert(opt, cli, opt.flag)
            continue
        if opt.env and env.get(opt.envvar) not in (None, ""):
            values[opt.name] = _convert(opt, env[opt.envvar], opt.envvar)
            continue
        ini = config.getini(opt.ini)
        if ini not in (None, [], ""):
            values[opt.name] = _convert(opt, ini, f"ini {opt.ini}")
            continue
        values[opt.name] = opt.default if opt.kind != "list" else []
    return values


@dataclass(frozen=True)
class Settings:
    """Resolved settings, kept in ``config.stash``."""

    plugins: tuple[str, ...]
    core_version: str
    shim_window: int
    sandbox: str
    env: str
    profile: str
    examples: dict[str, int]
    install_system_deps: bool
    report: Path | None
    strict_compat: bool
    expect: Path | None
    update_expect: bool
    suite: str
    min_checks: int
    replay: Path | None
    repro_dir: Path
    offline: bool
    find_links: tuple[Path, ...]
    #: ``--hypothesis-seed``, as hypothesis takes it: an int when it parses as one, else
    #: the string itself (``hypothesis.seed`` hashes any hashable).
    seed: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.plugins) or self.replay is not None

    def examples_for(self, hook: str | None) -> int:
        return self.examples.get(hook or "", self.examples["default"])


def is_active(config: pytest.Config) -> bool:
    """Whether the kit runs: only ``--vcs-plugin``/``--vcs-replay`` or their ini keys say so.

    Read without converting anything else, so an inactive kit parses nothing.
    """
    for name in ("plugin", "replay"):
        if config.getoption("vcs_" + name) not in (None, [], ""):
            return True
        if config.getini("vcs_" + name) not in (None, [], ""):
            return True
    return False


def inactive_settings() -> Settings:
    """The defaults, unparsed: what ``config.stash`` holds while the kit is inert."""
    d = {o.name: o.default for o in OPTIONS}
    return Settings(
        plugins=(), core_version=str(d["core_version"]), shim_window=int(d["shim_window"]),
        sandbox=str(d["sandbox"]), env=str(d["env"]), profile=str(d["profile"]),
        examples={"default": PROFILE_EXAMPLES[str(d["profile"])]},
        install_system_deps=False, report=None, strict_compat=False, expect=None,
        update_expect=False, suite=str(d["suite"]), min_checks=0, replay=None,
        repro_dir=Path("vcs-repro"), offline=False, find_links=())


def hypothesis_seed(config: pytest.Config) -> int | str | None:
    """``--hypothesis-seed`` exactly as hypothesis' own pytest plugin reads it.

    Hypothesis tries ``int(seed)`` and otherwise keeps the string (``seed``
    accepts any hashable), so ``--hypothesis-seed=abc`` is valid and must
    reproduce the same examples here as in the plugin author's own tests.
    """
    if not _has_option(config, "hypothesis_seed"):
        return None
    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        return None
    try:
        return int(seed)
    except (TypeError, ValueError):
        return str(seed)


def _at_least(v: dict[str, Any], name: str, low: int) -> None:
    value = v[name]
    if value is not None and value < low:
        raise SettingsError(f"{BY_NAME[name].flag}={value}: must be at least {low}")


def settings_from(config: pytest.Config, environ: dict[str, str] | None = None) -> Settings:
    """The resolved settings; the inert defaults when the kit is not switched on."""
    if not is_active(config):
        return inactive_settings()
    v = resolve(config, environ)
    for name in ("examples", *(f"examples_{hook}" for hook in HOOKS)):
        _at_least(v, name, 1)
    _at_least(v, "shim_window", 0)
    _at_least(v, "min_checks", 0)
    base = v["examples"] if v["examples"] is not None else PROFILE_EXAMPLES[v["profile"]]
    examples = {"default": base}
    for hook in HOOKS:
        if v[f"examples_{hook}"] is not None:
            examples[hook] = v[f"examples_{hook}"]
    path: Callable[[Any], Path | None] = lambda x: Path(x) if x else None  # noqa: E731
    root = Path(str(config.rootpath))
    return Settings(
        plugins=tuple(v["plugin"]),
        core_version=str(v["core_version"]),
        shim_window=int(v["shim_window"]),
        sandbox=v["sandbox"],
        env=v["env"],
        profile=v["profile"],
        examples=examples,
        install_system_deps=bool(v["install_system_deps"]),
        report=path(v["report"]),
        strict_compat=bool(v["strict_compat"]),
        expect=path(v["expect"]),
        update_expect=bool(v["update_expect"]),
        suite=str(v["suite"]),
        min_checks=int(v["min_checks"]),
        replay=path(v["replay"]),
        repro_dir=path(v["repro_dir"]) or root / "vcs-repro",
        offline=bool(v["offline"]),
        find_links=tuple(Path(p) for p in v["find_links"]),
        seed=hypothesis_seed(config),
    )


def _has_option(config: pytest.Config, name: str) -> bool:
    try:
        config.getoption(name)
    except ValueError:
        return False
    return True
