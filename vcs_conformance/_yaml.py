"""Safe YAML with source positions and duplicate-key detection.

PyYAML's ``safe_load`` silently keeps the last of two equal keys and throws
positions away; a manifest error must name the line.  So we compose the node
tree ourselves, construct the data with the safe constructor, and walk both
together to record where every JSON pointer came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Problem

#: Caps that stop alias bombs ("billion laughs") and absurd nesting.
MAX_NODES = 100_000
MAX_DEPTH = 64


@dataclass
class Located:
    """A parsed document plus where each pointer's value and key stand."""

    data: Any
    #: pointer -> (line, column) of the value, 1-based.
    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: pointer -> (line, column) of the mapping key naming it.
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: pointer -> the raw scalar text (so ``1.10`` can be quoted back).
    raw: dict[str, str] = field(default_factory=dict)

    def where(self, pointer: str, *, key: bool = False) -> tuple[int | None, int | None]:
        """Best known position of ``pointer``, falling back to its parents."""
        table = self.keys if key else self.values
        probe = pointer
        while True:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (None, None)
            probe = probe.rsplit("/", 1)[0]


def escape(token: str) -> str:
    """RFC 6901 escaping of one pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Walk:
    def __init__(self, loc: Located, problems: list[Problem], file: str | None) -> None:
        self.loc = loc
        self.problems = problems
        self.file = file
        self.count = 0

    def node(self, node: yaml.Node, data: Any, pointer: str, depth: int) -> bool:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            line, col = _pos(node)
            self.problems.append(Problem(
                "document too large or too deeply nested (aliases expand to more than "
                f"{MAX_NODES} nodes or nesting exceeds {MAX_DEPTH})",
                pointer, line, col, "a manifest is small: remove anchors/aliases", self.file))
            return False
        self.loc.values[pointer] = _pos(node)
        if isinstance(node, yaml.ScalarNode):
            self.loc.raw[pointer] = node.value
        elif isinstance(node, yaml.MappingNode) and isinstance(data, dict):
            seen: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                try:
                    key = yaml.SafeLoader.construct_object(_CONSTRUCTOR, key_node, deep=True)
                except yaml.YAMLError:  # pragma: no cover - already failed in construction
                    continue
                try:
                    hash(key)
                except TypeError:  # pragma: no cover - construction rejects these first
                    continue
                if key in seen:
                    line, col = _pos(key_node)
                    first = seen[key].start_mark.line + 1
                    self.problems.append(Problem(
                        f"duplicate key {key!r} (first defined on line {first}); YAML would "
                        "silently keep only the last one",
                        pointer + "/" + escape(str(key)), line, col, "remove one of them",
                        self.file))
                    continue
                seen[key] = key_node
                child = pointer + "/" + escape(str(key))
                self.loc.keys[child] = _pos(key_node)
                if not isinstance(key, str):
                    continue  # reported by the schema check as a non-string key
                if key in data and not self.node(value_node, data[key], child, depth + 1):
                    return False
        elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
            for index, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
                if not self.node(item_node, item, f"{pointer}/{index}", depth + 1):
                    return False
        return True


class _Constructor(yaml.SafeLoader):
    def __init__(self) -> None:  # no stream: only its construct_* methods are used
        yaml.SafeLoader.__init__(self, "")


_CONSTRUCTOR = _Constructor()


def load_located(text: str, *, file: str | None = None) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML document; return it with positions, or the problems."""
    problems: list[Problem] = []
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line, col = _text_position(text, exc.position)
        return None, [Problem(f"not valid YAML: {exc.reason} (character {exc.character!r})",
                              "", line, col, "remove control characters", file)]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem("the file is empty: expected a mapping of manifest fields",
                                  "", 1, 1, None, file)]
        # Walk the nodes before constructing: an alias bomb must be refused
        # before PyYAML expands it.
        counter = _Walk(Located(None), [], file)
        if not _count(node, counter, 0):
            return None, counter.problems
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [Problem(f"not valid YAML: {what}", "",
                              mark.line + 1 if mark else None,
                              mark.column + 1 if mark else None, None, file)]
    except yaml.reader.ReaderError as exc:
        line, col = _text_position(text, exc.position)
        return None, [Problem(f"not valid YAML: {exc.reason} (character {exc.character!r})",
                              "", line, col, "remove control characters", file)]
    except yaml.YAMLError as exc:
        return None, [Problem(f"not valid YAML: {exc}", "", None, None, None, file)]
    except RecursionError:
        return None, [Problem("not valid YAML: nesting too deep", "", None, None, None, file)]
    finally:
        loader.dispose()
    loc = Located(data)
    _Walk(loc, problems, file).node(node, data, "", 0)
    return loc, problems


def _count(node: yaml.Node, walk: _Walk, depth: int) -> bool:
    """Bound the expanded size of the node graph (aliases share nodes)."""
    walk.count += 1
    if walk.count > MAX_NODES or depth > MAX_DEPTH:
        line, col = _pos(node)
        walk.problems.append(Problem(
            f"document too large or too deeply nested (more than {MAX_NODES} nodes once "
            f"aliases are expanded, or deeper than {MAX_DEPTH})",
            "", line, col, "a manifest is small: remove anchors and aliases", walk.file))
        return False
    if isinstance(node, yaml.MappingNode):
        return all(_count(k, walk, depth + 1) and _count(v, walk, depth + 1)
                   for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return all(_count(item, walk, depth + 1) for item in node.value)
    return True


def _text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
