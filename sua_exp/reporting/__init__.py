"""Paper tables, figures and the HTML report (`sua-tables`), built from run dirs.

`build_report(runs, output_dir)` discovers run dirs, groups them by (data, model, loss,
perturbation), aggregates seeds (mean +- sample std, n) and writes tables 1-4 as Markdown, LaTeX
and CSV, figures 1-2 as PNG, `runs.csv` and a self-contained `index.html`.
"""

from sua_exp.reporting.report import Report, build_report
from sua_exp.reporting.runs import (
    GroupKey,
    Problem,
    Run,
    RunSet,
    Stat,
    collect_runs,
    discover_run_dirs,
    load_run,
)
from sua_exp.reporting.tables import Cell, Table, build_tables

__all__ = [
    "Cell",
    "GroupKey",
    "Problem",
    "Report",
    "Run",
    "RunSet",
    "Stat",
    "Table",
    "build_report",
    "build_tables",
    "collect_runs",
    "discover_run_dirs",
    "load_run",
]
