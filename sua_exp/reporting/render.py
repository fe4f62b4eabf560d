"""Render `Table`s as Markdown, LaTeX (booktabs), CSV and HTML fragments.

Every rendering states the runs a table came from (group, seeds, run dirs) and lists the missing
or failed runs. Index columns that are constant over all rows are left out of the Markdown,
LaTeX and HTML tables and named once above them ("All rows: ..."); CSV keeps every column, with
raw names (`ce`, `u_sua`) and mean / std / n as separate numeric columns.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence

from sua_exp.reporting.runs import Problem, RunSet
from sua_exp.reporting.tables import DISPLAY, Cell, Table

DASH = "–"
DAGGER = "†"


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "nan"


def _plain(x: float, digits: int) -> str:
    return f"{round(x, digits):g}" if math.isfinite(x) else "nan"


def format_cell(cell: Cell, seeds_min: int, fmt: str = "md") -> str:
    """`fmt`: md / html (unicode) or tex."""
    tex = fmt == "tex"
    if cell.text is not None:
        return latex_escape(cell.text) if tex else cell.text
    st = cell.stat
    if st.n == 0:
        return "--" if tex else DASH
    if cell.plain:
        return _plain(st.mean, cell.digits)
    text = _num(st.mean, cell.digits)
    if tex and text.startswith("-"):
        text = "$-$" + text[1:]
    if st.n > 1:
        text += (" $\\pm$ " if tex else " ± ") + _num(st.std, cell.digits)
    if st.n < seeds_min:
        text += f" (n={st.n})" + ("$^{\\dagger}$" if tex else DAGGER)
    return text


def display_value(table: Table, column: str, value: str) -> str:
    return DISPLAY.get(column, {}).get(value, value)


def visible_index(table: Table) -> tuple[list[int], list[tuple[str, str]]]:
    """Indices of index columns to show, and the (name, value) of the constant ones left out."""
    shown, constant = [], []
    for i, name in enumerate(table.index):
        values = {r.index[i] for r in table.rows}
        if len(values) == 1 and name not in table.keep_index:
            constant.append((name, display_value(table, name, next(iter(values)))))
        else:
            shown.append(i)
    return shown, constant


def column_label(col: Sequence[str], sep: str = " / ") -> str:
    return sep.join(part for part in col if part)


def _runs_lines(table: Table, runset: RunSet, seeds_min: int) -> list[str]:
    groups = runset.groups
    lines = []
    for key in table.groups:
        runs = groups.get(key, [])
        seeds = ", ".join(str(r.seed) for r in runs)
        mark = f" {DAGGER} (< {seeds_min} seeds)" if len(runs) < seeds_min else ""
        dirs = ", ".join(runset.display(r.path) for r in runs)
        lines.append(f"{key.label()}: seeds [{seeds}] (n={len(runs)}){mark}; run dirs: {dirs}")
    return lines


def _problem_lines(problems: Sequence[Problem]) -> list[str]:
    return [p.describe() for p in problems]


def _all_rows_line(constant: list[tuple[str, str]]) -> str | None:
    return "All rows: " + ", ".join(f"{k} = {v}" for k, v in constant) + "." if constant else None


# --------------------------------------------------------------------------- Markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table, runset: RunSet, seeds_min: int = 3) -> str:
    out = [f"# {table.title}", ""]
    shown, constant = visible_index(table)
    if table.empty_message:
        out += [f"> **{table.empty_message}**", ""]
    else:
        line = _all_rows_line(constant)
        if line:
            out += [line, ""]
        header = [table.index[i] for i in shown] + [column_label(c) for c in table.columns]
        out.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        out.append("|" + "|".join([":--"] * len(shown) + ["--:"] * len(table.columns)) + "|")
        for row in table.rows:
            cells = [display_value(table, table.index[i], row.index[i]) for i in shown]
            cells += [format_cell(c, seeds_min, "md") for c in row.cells]
            out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        out.append("")
    out += [f"- {n}" for n in table.notes]
    out += ["", "## Runs used", ""]
    lines = _runs_lines(table, runset, seeds_min)
    out += [f"- {_md_escape(x)}" for x in lines] or ["- none"]
    out += ["", "## Missing or failed runs", ""]
    out += [f"- {_md_escape(x)}" for x in _problem_lines(runset.problems)] or ["- none"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- LaTeX

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "[": "{[}",  # a cell starting with [ after \\ would be read as \\[<length>]
    "]": "{]}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "±": r"$\pm$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "α": r"$\alpha$",
    "δ": r"$\delta$",
    "†": r"$^{\dagger}$",
    "·": r"$\cdot$",
}


# labels typeset as math in LaTeX (exact matches)
_TEX_LABELS = {
    "E[[SUA]+]": r"$\mathrm{E}[[\mathrm{SUA}]_+]$",
    "[SUA]+": r"$[\mathrm{SUA}]_+$",
    "U_sua": r"$U_{\mathrm{SUA}}$",
    "R_worst": r"$R_{\mathrm{worst}}$",
}


def latex_escape(text: str) -> str:
    text = str(text)
    if text in _TEX_LABELS:
        return _TEX_LABELS[text]
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _spans(columns: list[tuple[str, ...]], level: int) -> list[tuple[str, int, int]]:
    """Runs of consecutive columns sharing the label prefix up to `level`: (label, start, length)."""
    spans: list[tuple[str, int, int]] = []
    for i, col in enumerate(columns):
        if spans and columns[spans[-1][1]][: level + 1] == col[: level + 1]:
            label, start, length = spans[-1]
            spans[-1] = (label, start, length + 1)
        else:
            spans.append((col[level], i, 1))
    return spans


def to_latex(table: Table, runset: RunSet, seeds_min: int = 3) -> str:
    shown, constant = visible_index(table)
    levels = max((len(c) for c in table.columns), default=1)
    columns = [tuple(c) + ("",) * (levels - len(c)) for c in table.columns]
    n_idx, n_cols = len(shown), len(columns)
    out = [
        f"% {table.title} -- generated by sua-tables",
        "% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
    ]
    out.append("% Runs used (group: seeds, run dirs):")
    out += [f"%   {x}" for x in _runs_lines(table, runset, seeds_min)] or ["%   none"]
    out.append("% Missing or failed runs:")
    out += [f"%   {x}" for x in _problem_lines(runset.problems)] or ["%   none"]
    caption = latex_escape(table.title.split(": ", 1)[-1]) + (
        f". Mean $\\pm$ std over seeds; $^{{\\dagger}}$: fewer than {seeds_min} seeds."
    )
    out += [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{table.name}}}",
        "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%",
        "\\begin{tabular}{" + "l" * n_idx + "r" * max(n_cols, 1) + "}",
        "\\toprule",
    ]
    for level in range(levels):
        cells = [latex_escape(table.index[i]) if level == levels - 1 else "" for i in shown]
        rules = []
        for label, start, length in _spans(columns, level):
            cells.append(
                f"\\multicolumn{{{length}}}{{c}}{{{latex_escape(label)}}}"
                if length > 1
                else latex_escape(label)
            )
            below = (
                [columns[j][level + 1] for j in range(start, start + length)] if level < levels - 1 else []
            )
            if label and any(below):
                rules.append(f"\\cmidrule(lr){{{n_idx + start + 1}-{n_idx + start + length}}}")
        out.append(" & ".join(cells) + " \\\\" + (" " + " ".join(rules) if rules else ""))
    out.append("\\midrule")
    if table.empty_message or not table.rows:
        out.append(
            f"\\multicolumn{{{n_idx + max(n_cols, 1)}}}{{c}}{{{latex_escape(table.empty_message or 'no rows')}}} \\\\"
        )
    previous: list[str] = []
    for row in table.rows:
        idx = [latex_escape(display_value(table, table.index[i], row.index[i])) for i in shown]
        # blank an index value repeated from the row above (and all before it), paper style
        printed = []
        same = True
        for j, value in enumerate(idx):
            same = same and j < len(previous) and previous[j] == value and j < len(idx) - 1
            printed.append("" if same else value)
        previous = idx
        cells = printed + [format_cell(c, seeds_min, "tex") for c in row.cells]
        out.append(" & ".join(cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}}"]
    notes = ([_all_rows_line(constant)] if _all_rows_line(constant) else []) + table.notes
    if notes:
        out.append("\\par\\smallskip\\footnotesize " + " ".join(latex_escape(n) for n in notes))
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- CSV


def _csv_num(x: float) -> str:
    return format(x, ".12g") if math.isfinite(x) else ""


def to_csv(table: Table, runset: RunSet) -> str:
    """One row per table row: every index column (raw names), then per column `label`,
    `label std`, `label n` (mean, sample std, seed count; plain/text columns: the value only),
    then the seeds and run dirs the row came from."""
    modes = []
    for j in range(len(table.columns)):
        cells = [r.cells[j] for r in table.rows if r.cells[j].text is None]
        modes.append("text" if not cells else "stat" if any(not c.plain for c in cells) else "plain")
    header = list(table.index)
    for col, mode in zip(table.columns, modes, strict=True):
        label = column_label(col)
        header += [label, f"{label} std", f"{label} n"] if mode == "stat" else [label]
    header += ["seeds", "runs"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        values = list(row.index)
        for cell, mode in zip(row.cells, modes, strict=True):
            if cell.text is not None:
                values += [cell.text] + (["", ""] if mode == "stat" else [])
            elif mode == "stat":
                st = cell.stat
                values += [_csv_num(st.mean), _csv_num(st.std), str(st.n)]
            else:
                values.append(_csv_num(cell.stat.mean))
        seeds = sorted({r.seed for r in row.runs if r.seed is not None})
        values += [";".join(map(str, seeds)), ";".join(runset.display(r.path) for r in row.runs)]
        writer.writerow(values)
    return buf.getvalue()


# --------------------------------------------------------------------------- HTML


def to_html_fragment(
    table: Table, runset: RunSet, seeds_min: int = 3, links: Sequence[tuple[str, str]] = ()
) -> str:
    esc = html.escape
    shown, constant = visible_index(table)
    out = [f'<section id="{esc(table.name)}">', f"<h2>{esc(table.title)}</h2>"]
    if links:
        out.append(
            "<p class='links'>" + " · ".join(f'<a href="{esc(h)}">{esc(t)}</a>' for t, h in links) + "</p>"
        )
    if table.empty_message:
        out.append(f"<p class='empty'><strong>{esc(table.empty_message)}</strong></p>")
    else:
        line = _all_rows_line(constant)
        if line:
            out.append(f"<p>{esc(line)}</p>")
        levels = max((len(c) for c in table.columns), default=1)
        columns = [tuple(c) + ("",) * (levels - len(c)) for c in table.columns]
        out.append("<table><thead>")
        covered: set[int] = set()
        for level in range(levels):
            cells = []
            if level == 0:
                cells += [f'<th rowspan="{levels}">{esc(table.index[i])}</th>' for i in shown]
            for label, start, length in _spans(columns, level):
                if start in covered:
                    continue
                span = range(start, start + length)
                # a label with nothing below it (e.g. "Cost") spans the remaining header rows
                if label and not any(columns[j][lv] for j in span for lv in range(level + 1, levels)):
                    covered.update(span)
                    cells.append(f'<th colspan="{length}" rowspan="{levels - level}">{esc(label)}</th>')
                else:
                    cells.append(f'<th colspan="{length}">{esc(label)}</th>')
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</thead><tbody>")
        for row in table.rows:
            cells = [
                f"<td class='idx'>{esc(display_value(table, table.index[i], row.index[i]))}</td>"
                for i in shown
            ]
            for cell in row.cells:
                marked = cell.text is None and not cell.plain and 0 < cell.stat.n < seeds_min
                cls = " class='few'" if marked else ""
                cells.append(f"<td{cls}>{esc(format_cell(cell, seeds_min, 'html'))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    out.append("<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in table.notes) + "</ul>")
    runs = _runs_lines(table, runset, seeds_min)
    out.append(f"<details><summary>Runs used ({len(table.groups)} groups)</summary><ul>")
    out += [f"<li>{esc(x)}</li>" for x in runs] or ["<li>none</li>"]
    out.append("</ul></details>")
    out.append("</section>")
    return "\n".join(out)
