"""The three artefacts: JSON for machines, a Markdown table, a self-contained HTML page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from tests._matrix_data import NATIVE, base, fail, matrix, shim, skip
from vcs_conformance._matrix import Matrix
from vcs_conformance._matrix_list import load_list
from vcs_conformance._matrix_render import (
    fanout,
    render_html,
    render_markdown,
    write_artefacts,
)
from vcs_conformance._matrix_verdicts import Comparison, Suggestion, compare, suggest

FIXTURES = Path(__file__).parent / "fixtures" / "matrix"


def _demo() -> tuple[Matrix, list[Suggestion], Comparison]:
    m = matrix({
        ("good", "1.1.0"): ("1.1", NATIVE),
        ("good", "1.2.0"): ("1.1", shim(("1.1", "1.2"))),
        ("old", "1.1.0"): ("1.0", shim(("1.0", "1.1"))),
        ("old", "1.2.0"): ("1.0", skip("too-old-for-window")),
        ("old", "1.2.0+w2"): ("1.0", shim(("1.0", "1.1", "1.2"))),
        ("bad", "1.1.0"): ("1.1", {"kind": "native",
                                   "failed": {"hygiene": "wrote <b>outside</b> | the workspace"}}),
    }, plugins=[{"id": "good", "api_version": "1.1", "core_version": ">=1.1,<2"},
                {"id": "old", "api_version": "1.0"}, {"id": "bad", "api_version": "1.1"}])
    comparison = compare(m, {"good@1.1.0": base("pass"), "bad@1.1.0": base("pass"),
                             "old@1.1.0": base("fail", failing=("train-valid",))})
    return m, suggest(m), comparison


def test_markdown_is_a_plugin_by_core_table() -> None:
    m, suggestions, comparison = _demo()
    text = render_markdown(m, suggestions, comparison)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| plugin | API |"))
    assert header == ("| plugin | API | core 1.1.0 | core 1.2.0 | core 1.2.0 (window 2) |")
    start = lines.index(header) + 2
    table = lines[start:lines.index("", start)]
    rows = {line.split(" | ")[0]: line for line in table}
    assert rows["| `good`"] == "| `good` | 1.1 | pass | shimmed 1.1->1.2 | - |"
    assert rows["| `old`"] == ("| `old` | 1.0 | shimmed 1.0->1.1 | skipped (too-old-for-window) "
                               "| shimmed 1.0->1.1->1.2 |")
    assert rows["| `bad`"] == "| `bad` | 1.1 | **fail**: `hygiene` | - | - |"
    # every row of the matrix table has as many cells as its header
    assert all(row.replace("\\|", "").count("|") == header.count("|") for row in table)
    assert "- **blocks** `bad@1.1.0`: new failure(s) hygiene (was pass)" in text
    assert "- improved `old@1.1.0`" in text and "`--update-baseline`" in text
    assert "| `good` | 1.1 / `>=1.1,<2` | 1.1.0 | 1.2.0 | 1.1 | `>=1.1,<2` | matches the " \
           "manifest |" in text
    # a pipe inside a failure reason must not break the table
    assert "wrote <b>outside</b> \\| the workspace" in text


class _Resources(HTMLParser):
    """Every attribute that would make a browser load something."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "srcset", "data", "action", "poster") or \
                    (name == "href" and not (value or "").startswith("#")):
                self.loads.append(f"{tag} {name}={value}")


def test_html_is_self_contained_and_escaped() -> None:
    m, suggestions, comparison = _demo()
    page = render_html(m, suggestions, comparison)
    parser = _Resources()
    parser.feed(page)
    assert parser.loads == []
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"url\(|@import|https?://", page)
    # the plugin's text is escaped, never markup
    assert "wrote &lt;b&gt;outside&lt;/b&gt;" in page and "<b>outside</b>" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # failing ids link to their details on the same page
    anchors = re.findall(r'href="#([^"]+)"', page)
    assert anchors and all(f'id="{a}"' in page for a in anchors)
    assert 'class="skipped"' in page and "skipped (too-old-for-window)" in page
    assert "blocks" in page and "bad@1.1.0" in page


def test_write_artefacts_writes_three_files_with_the_matrix_json(tmp_path: Path) -> None:
    m, suggestions, comparison = _demo()
    paths = write_artefacts(tmp_path / "out", m, suggestions, comparison)
    assert sorted(paths) == ["compat-matrix.html", "compat-matrix.json", "compat-matrix.md"]
    doc = json.loads(paths["compat-matrix.json"].read_text(encoding="utf-8"))
    cells = {c["key"]: c for c in doc["cells"]}
    assert cells["old@1.2.0"]["status"] == "skipped"
    assert cells["old@1.2.0"]["rule"] == "too-old-for-window"
    assert cells["bad@1.1.0"]["failing"] == ["hygiene"]
    assert doc["comparison"]["blocking"] == 1
    assert {s["plugin"] for s in doc["suggestions"]} == {"good", "old", "bad"}
    assert list(tmp_path.joinpath("out").glob("*.tmp")) == []


def test_fanout_is_a_github_strategy_matrix() -> None:
    mlist = load_list(FIXTURES / "conformance.toml")
    doc = fanout(mlist)
    assert list(doc) == ["include"]
    assert len(doc["include"]) == 19
    assert {"cell": "api-1-0@1.2.0+w2", "plugin": "api-1-0", "core": "1.2.0", "window": 2,
            "column": "1.2.0+w2"} in doc["include"]
    json.dumps(doc)  # strategy.matrix is fromJSON() of this


def test_fail_cells_render_ids_in_markdown_details() -> None:
    m = matrix({("p", "1.2.0"): ("1.2", fail("hygiene", "train-valid"))})
    text = render_markdown(m, suggest(m))
    assert "- `p@1.2.0` fails:" in text
    assert "  - `hygiene`: hygiene broke" in text and "second line" not in text
