"""Facts about the plugin API versions the reference host emulates (SPEC 1, 3)."""

from __future__ import annotations

from typing import Final

#: Plugin API versions the kit knows, oldest first.
KNOWN_API_VERSIONS: Final[tuple[str, ...]] = ("1.0", "1.1", "1.2")
#: Full core version emulated for each API version by default.
CORE_FOR_API: Final[dict[str, str]] = {"1.0": "1.0.0", "1.1": "1.1.0", "1.2": "1.2.0"}
#: The current core (SPEC 1: default ``1.2.0``).
CURRENT_CORE: Final[str] = "1.2.0"
CURRENT_API: Final[str] = "1.2"
#: The guaranteed backward-compatibility window (SPEC 1, rule 4).
DEFAULT_SHIM_WINDOW: Final[int] = 1
#: Hooks known in every API version 1.0-1.2, in lifecycle order.
KNOWN_HOOKS: Final[tuple[str, ...]] = ("init", "preprocess", "train", "synthesize")
#: Positional arity of each hook (SPEC 5).
HOOK_ARITY: Final[dict[str, int]] = {"init": 1, "preprocess": 1, "train": 2, "synthesize": 2}
#: Entry-point group plugins register under (SPEC 2).
ENTRY_POINT_GROUP: Final[str] = "vcs.plugins"
#: File name of the manifest (SPEC 2).
MANIFEST_NAME: Final[str] = "vcs_plugin.yaml"
