"""The check catalogue of SPEC section 7, as data.

Ids are stable: users select (``-k``), expect (``--vcs-expect``) and pin
(``--vcs-suite``) by them.  Each check records the suite version that
introduced it, so pinning an older suite turns newer checks into warnings
and a kit upgrade never turns a plugin's CI red overnight.  ``needs`` are
the checks whose failure makes this one meaningless (it is then skipped
with that reason rather than failed twice); every check after
``compat-core`` needs it, directly or through another check, so an
incompatible plugin skips them all with the compatibility rule (SPEC 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

#: Suite versions, oldest first; the newest is the default of ``--vcs-suite``.
SUITE_VERSIONS: tuple[str, ...] = ("1.0",)
CURRENT_SUITE = SUITE_VERSIONS[-1]


@dataclass(frozen=True)
class CheckSpec:
    """One catalogue entry."""

    id: str
    area: str
    description: str
    suite: str = "1.0"
    #: Hook the check drives; skipped (not failed) when the plugin lacks it.
    hook: str | None = None
    needs: tuple[str, ...] = ()
    #: Uses hypothesis examples (counted in the coverage accounting).
    generated: bool = False
    #: Only exists when a shim chain serves the plugin.
    shim_only: bool = False

    def newer_than(self, suite: str) -> bool:
        return Version(self.suite) > Version(suite)


_LOAD = ("register-hooks",)

CATALOGUE: tuple[CheckSpec, ...] = (
    CheckSpec("manifest-present", "manifest",
              "vcs_plugin.yaml is beside the entry package's __init__.py in the built wheel"),
    CheckSpec("manifest-schema", "manifest",
              "the manifest parses as safe YAML and validates for its api_version",
              needs=("manifest-present",)),
    CheckSpec("manifest-identity", "manifest",
              "manifest name and version equal the distribution's", needs=("manifest-schema",)),
    CheckSpec("compat-core", "compat",
              "SPEC 1 finds the plugin compatible with the core under test",
              needs=("manifest-schema",)),
    # needs compat-core: SPEC 7 skips every check after compat-core for an
    # incompatible plugin, with compat-core's reason (not only those that load it).
    CheckSpec("package-entry-point", "package",
              "exactly one vcs.plugins entry point, naming a module", needs=("compat-core",)),
    CheckSpec("package-install", "package",
              "installs into a fresh isolated env with exact locked versions and its dependencies",
              needs=("compat-core",)),
    CheckSpec("register-import", "register",
              "the entry module imports inside the sandbox in time", needs=("package-install",)),
    CheckSpec("register-hooks", "register",
              "register(registry) returns known hooks, callables of the right arity",
              needs=("register-import",)),
    CheckSpec("init-config", "init", "init accepts valid configs and rejects invalid ones with "
              "ValueError", hook="init", needs=_LOAD, generated=True),
    CheckSpec("preprocess-valid", "preprocess",
              "generated valid datasets give a valid Dataset", hook="preprocess", needs=_LOAD,
              generated=True),
    CheckSpec("preprocess-invalid", "preprocess",
              "broken datasets give ValueError", hook="preprocess", needs=_LOAD),
    CheckSpec("train-progress", "train", "progress events follow SPEC 5", hook="train",
              needs=_LOAD, generated=True),
    CheckSpec("train-valid", "train", "valid Datasets give a valid Model", hook="train",
              needs=_LOAD, generated=True),
    CheckSpec("train-invalid", "train", "invalid Datasets give ValueError", hook="train",
              needs=_LOAD, generated=True),
    CheckSpec("synthesize-valid", "synthesize",
              "generated texts and voice configs give a valid Result and WAV",
              hook="synthesize", needs=_LOAD, generated=True),
    CheckSpec("synthesize-invalid", "synthesize", "SPEC 5's invalid inputs give ValueError",
              hook="synthesize", needs=_LOAD, generated=True),
    CheckSpec("lifecycle-pipeline", "lifecycle",
              "preprocess -> train -> synthesize with the trained model, end to end",
              needs=_LOAD),
    CheckSpec("hygiene", "hygiene", "no call leaves a process behind, writes outside the "
              "read-write areas, or returns non-JSON", needs=_LOAD),
    CheckSpec("shim-equivalence", "shim", "the same payloads natively and through the shim "
              "chain give the same verdicts and equivalent results", needs=_LOAD,
              generated=True, shim_only=True),
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CATALOGUE}
CHECK_IDS: tuple[str, ...] = tuple(BY_ID)


def checks_for_suite(suite: str) -> list[tuple[CheckSpec, bool]]:
    """Every check with whether it is *binding* (not newer than ``suite``)."""
    if suite not in SUITE_VERSIONS:
        raise ValueError(f"unknown suite version {suite!r}; known: {', '.join(SUITE_VERSIONS)}")
    return [(c, not c.newer_than(suite)) for c in CATALOGUE]
