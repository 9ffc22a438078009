"""A fresh workspace directory tree for tests that make many (one per hypothesis example)."""

from __future__ import annotations

import tempfile
from pathlib import Path

AREAS = ("datasets", "cache", "models", "outputs")


def fresh_workspace(parent: Path) -> Path:
    """A new directory under ``parent`` with the four SPEC 4 areas, empty."""
    root = Path(tempfile.mkdtemp(dir=parent))
    for area in AREAS:
        (root / area).mkdir()
    return root
