"""`sua-tables`: the paper's tables 1-4, figures 1-2 and an HTML report from run dirs.

    sua-tables runs=outputs/train/multiruns/2026-12-05_10-00-00
    sua-tables 'runs=[outputs/train/runs/2026-12-04_*,outputs/table2]' output_dir=paper/tables seeds_min=3

`runs` is a folder searched recursively for run dirs (a multirun dir, `outputs/`), one run dir, or
a list of dirs / globs; relative paths are taken from the directory the command is run in.
Output goes to `output_dir` (default: this command's Hydra run dir). Missing and failed runs are
listed in every table, never fatal. See `sua_exp.reporting`.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from sua_exp.data.sources import project_root
from sua_exp.reporting import Report, build_report

log = logging.getLogger("sua_exp")
CONF_DIR = str(project_root() / "conf")


def make_tables(cfg: DictConfig) -> Report:
    runs = OmegaConf.to_container(cfg.runs, resolve=True) if OmegaConf.is_config(cfg.runs) else cfg.runs
    if runs is None or runs == [] or runs == "":
        raise ValueError("runs: give a folder, a multirun dir, or a list of run dirs / globs")
    figures = cfg.get("figures") or {}
    report = build_report(
        runs,
        cfg.output_dir,
        formats=list(cfg.formats),
        seeds_min=cfg.seeds_min,
        base_dir=cfg.paths.work_dir,
        html=cfg.get("html", True),
        figures=figures.get("enabled", True),
        figure_condition=figures.get("condition", "clean"),
        max_groups=figures.get("max_groups", 12),
        max_points=figures.get("max_points", 5000),
        table1_metrics=list(cfg.get("table1", {}).get("metrics", ["auroc", "prr", "aurc"])),
    )
    for problem in report.runset.problems:
        log.warning("missing/failed run: %s", problem.describe())
    log.info("report: %s", report.html or report.output_dir)
    return report


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="tables")
def main(cfg: DictConfig) -> None:
    make_tables(cfg)


if __name__ == "__main__":
    main()
