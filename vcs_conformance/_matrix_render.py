"""The matrix artefacts: ``compat-matrix.json``, ``.md`` and a self-contained ``.html``.

Three forms for three readers: JSON for machines (the CI fan-out, the gate,
dashboards), Markdown for a pull-request comment or a job summary, HTML for
a person opening a CI artefact.  The HTML embeds its style and loads nothing
(no scripts, fonts, images or links off the page): CI artefact viewers are
often offline or sandboxed, and a report must never phone home.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._matrix import CellResult, Matrix
from ._matrix_list import Cell, MatrixList
from ._matrix_verdicts import Comparison, Suggestion

__all__ = ["ARTEFACTS", "fanout", "matrix_document", "render_html", "render_markdown",
           "write_artefacts"]

ARTEFACTS = ("compat-matrix.json", "compat-matrix.md", "compat-matrix.html")


def fanout(mlist: MatrixList, cells: Sequence[Cell] | None = None) -> dict[str, Any]:
    """``{"include": [...]}``, one entry per cell: GitHub's ``strategy.matrix`` shape."""
    chosen = mlist.cells() if cells is None else cells
    return {"include": [{"cell": c.key, "plugin": c.plugin, "core": c.core, "window": c.window,
                         "column": c.column} for c in chosen]}


def matrix_document(matrix: Matrix, suggestions: Sequence[Suggestion],
                    comparison: Comparison | None = None) -> dict[str, Any]:
    doc = matrix.to_json()
    doc["suggestions"] = [s.to_json() for s in suggestions]
    if comparison is not None:
        doc["comparison"] = comparison.to_json()
    return doc


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _api(matrix: Matrix, plugin_id: str) -> str:
    for info in matrix.plugins:
        if info.get("id") == plugin_id and info.get("api_version"):
            return str(info["api_version"])
    for res in matrix.results.values():
        if res.cell.plugin == plugin_id and res.plugin.get("api_version"):
            return str(res.plugin["api_version"])
    return "?"


def _plugin_ids(matrix: Matrix) -> list[str]:
    ids = [str(p.get("id")) for p in matrix.plugins]
    ids.extend(r.cell.plugin for r in matrix.results.values() if r.cell.plugin not in ids)
    return list(dict.fromkeys(ids))


def _column_title(column: str) -> str:
    core, _, window = column.partition("+w")
    return f"core {core}" + (f" (window {window})" if window else "")


def _counts(matrix: Matrix) -> str:
    tally: dict[str, int] = {}
    for res in matrix.results.values():
        tally[res.status] = tally.get(res.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in tally.items())


def render_markdown(matrix: Matrix, suggestions: Sequence[Suggestion],
                    comparison: Comparison | None = None) -> str:
    cols = matrix.columns
    lines = ["# VCS plugin compatibility matrix", "",
             f"{len(matrix.results)} cells ({_counts(matrix)}); shim window "
             f"{matrix.shim_window}; {matrix.wall_seconds:.1f} s with {matrix.jobs} job(s); "
             f"{matrix.created}", "",
             "| plugin | API | " + " | ".join(_column_title(c) for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for pid in _plugin_ids(matrix):
        row = [f"`{pid}`", _api(matrix, pid)]
        for col in cols:
            res = matrix.result(pid, col)
            row.append("-" if res is None else _md(_md_label(res)))
        lines.append("| " + " | ".join(row) + " |")
    if comparison is not None:
        lines += ["", "## Against the baseline", ""]
        moved = [c for c in comparison.changes if c.kind != "unchanged"]
        if not moved:
            lines.append("Every cell is as in the baseline.")
        for change in moved:
            mark = "**blocks**" if change.blocking else change.kind
            lines.append(f"- {mark} `{change.key}`: {_md(change.message)}")
        if comparison.improved:
            lines += ["", "Cells got better: raise the baseline with `--update-baseline`."]
    lines += ["", "## Suggested manifest", "",
              "| plugin | declared | native on | shimmed on | suggested api_version | "
              "suggested core_version | notes |", "|---|---|---|---|---|---|---|"]
    for s in suggestions:
        declared = f"{s.declared_api or '?'} / `{s.declared_core or '-'}`"
        lines.append("| " + " | ".join([
            f"`{s.plugin}`", declared, ", ".join(s.native) or "-",
            ", ".join(s.shimmed_labels) or "-",
            s.api_version or "-", f"`{s.core_version}`" if s.core_version else "-",
            _md("; ".join(s.notes)) or ("matches the manifest" if s.matches_declared else "")])
            + " |")
    details = [r for r in matrix.results.values() if r.status in ("fail", "error", "skipped")]
    if details:
        lines += ["", "## Details", ""]
        for res in details:
            if res.status == "fail":
                lines.append(f"- `{res.cell.key}` fails:")
                lines += [f"  - `{cid}`: {_md(_short(why))}" for cid, why in res.failures.items()]
            else:
                lines.append(f"- `{res.cell.key}` {res.status}: {_md(_short(res.reason, 400))}")
    return "\n".join(lines) + "\n"


def _md_label(res: CellResult) -> str:
    if res.status == "fail":
        return "**fail**: " + ", ".join(f"`{i}`" for i in res.failing)
    if res.status == "error":
        return "**error**: " + _short(res.reason, 80)
    return res.label()


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2329}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #c9d1d9;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}code{font-size:.92em}
.pass{background:#dcf5e3}.shimmed{background:#e3effd}.skipped{background:#f2f2f2;color:#555}
.fail{background:#fde2e1}.error{background:#fbe3c8}td.none{color:#999}
.block{color:#a4161a;font-weight:600}.improved{color:#1f7a3a;font-weight:600}
.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.4rem;border:1px solid #c9d1d9}
ul{margin:.3rem 0}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_html(matrix: Matrix, suggestions: Sequence[Suggestion],
                comparison: Comparison | None = None) -> str:
    cols = matrix.columns
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>VCS plugin compatibility matrix</title>", f"<style>{_CSS}</style>",
           "</head><body>", "<h1>VCS plugin compatibility matrix</h1>",
           f"<p>{len(matrix.results)} cells ({_h(_counts(matrix))}); shim window "
           f"{matrix.shim_window}; {matrix.wall_seconds:.1f} s with {matrix.jobs} job(s); "
           f"{_h(matrix.created)}</p>",
           '<p class="legend">' + "".join(
               f'<span class="{css}">{_h(text)}</span>' for css, text in (
               ("pass", "pass: native"), ("shimmed", "shimmed: through the shim chain"),
               ("skipped", "skipped: refused by SPEC 1 (rule)"),
               ("fail", "fail: failing check ids"), ("error", "error: the run broke")))
           + "</p>",
           "<table><thead><tr><th>plugin</th><th>API</th>"
           + "".join(f"<th>{_h(_column_title(c))}</th>" for c in cols)
           + "</tr></thead><tbody>"]
    for pid in _plugin_ids(matrix):
        row = f"<tr><th><code>{_h(pid)}</code></th><td>{_h(_api(matrix, pid))}</td>"
        for col in cols:
            res = matrix.result(pid, col)
            if res is None:
                row += '<td class="none">not run</td>'
                continue
            tip = res.reason if res.status != "fail" else "; ".join(
                f"{k}: {_short(v)}" for k, v in res.failures.items())
            body = _h(res.label()) if res.status != "fail" else "fail: " + ", ".join(
                f'<a href="#{_h(_anchor(res.cell.key, cid))}"><code>{_h(cid)}</code></a>'
                for cid in res.failing)
            row += f'<td class="{res.status}" title="{_h(_short(tip, 300))}">{body}</td>'
        out.append(row + "</tr>")
    out.append("</tbody></table>")
    if comparison is not None:
        out.append("<h2>Against the baseline</h2><ul>")
        moved = [c for c in comparison.changes if c.kind != "unchanged"]
        if not moved:
            out.append("<li>Every cell is as in the baseline.</li>")
        for change in moved:
            css = "block" if change.blocking else ("improved" if change.kind == "improved"
                                                   else "")
            mark = "blocks" if change.blocking else change.kind
            out.append(f'<li><span class="{css}">{_h(mark)}</span> <code>{_h(change.key)}'
                       f"</code>: {_h(change.message)}</li>")
        out.append("</ul>")
        if comparison.improved:
            out.append("<p>Cells got better: raise the baseline with "
                       "<code>--update-baseline</code>.</p>")
    out.append("<h2>Suggested manifest</h2><table><thead><tr><th>plugin</th><th>declared</th>"
               "<th>native on</th><th>shimmed on</th><th>suggested api_version</th>"
               "<th>suggested core_version</th><th>notes</th></tr></thead><tbody>")
    for s in suggestions:
        note = "; ".join(s.notes) or ("matches the manifest" if s.matches_declared else "")
        out.append(
            f"<tr><th><code>{_h(s.plugin)}</code></th><td>{_h(s.declared_api or '?')} / "
            f"<code>{_h(s.declared_core or '-')}</code></td><td>{_h(', '.join(s.native) or '-')}"
            f"</td><td>{_h(', '.join(s.shimmed_labels) or '-')}</td><td>{_h(s.api_version or '-')}"
            f"</td><td><code>{_h(s.core_version or '-')}</code></td><td>{_h(note)}</td></tr>")
    out.append("</tbody></table>")
    details = [r for r in matrix.results.values() if r.status in ("fail", "error", "skipped")]
    if details:
        out.append("<h2>Details</h2><ul>")
        for res in details:
            if res.status == "fail":
                out.append(f"<li><code>{_h(res.cell.key)}</code> fails:<ul>")
                out.extend(f'<li id="{_h(_anchor(res.cell.key, cid))}"><code>{_h(cid)}</code>: '
                           f"<pre>{_h(why.strip())}</pre></li>" for cid, why in
                           res.failures.items())
                out.append("</ul></li>")
            else:
                out.append(f"<li><code>{_h(res.cell.key)}</code> {_h(res.status)}: "
                           f"<pre>{_h(res.reason.strip())}</pre></li>")
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _anchor(key: str, check_id: str) -> str:
    return "f-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{key}-{check_id}")


def write_artefacts(out_dir: Path | str, matrix: Matrix, suggestions: Sequence[Suggestion],
                    comparison: Comparison | None = None) -> dict[str, Path]:
    """Write the three artefacts (each atomically) and return their paths by file name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "compat-matrix.json": json.dumps(matrix_document(matrix, suggestions, comparison),
                                         indent=2, ensure_ascii=False) + "\n",
        "compat-matrix.md": render_markdown(matrix, suggestions, comparison),
        "compat-matrix.html": render_html(matrix, suggestions, comparison),
    }
    paths = {}
    for name, text in texts.items():
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        paths[name] = out / name
    return paths
