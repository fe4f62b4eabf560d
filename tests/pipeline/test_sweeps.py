"""Sweeps and hardware: a joblib multirun feeding sua-tables, and DDP simulated on 2 CPU processes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from helpers import CONF_DIR, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra


def _run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_joblib_multirun_then_tables(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    _run(
        "sua_exp.train",
        "-m",
        "experiment=smoke",
        "hydra/launcher=local_parallel",
        "loss=ce,sua_tr",
        "seed=1,2",
        "score.mc_samples=0",
        "extras.print_config=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    assert all((sweep / str(i) / "metrics.json").is_file() for i in range(4))

    out = tmp_path / "tables"
    _run(
        "sua_exp.tables",
        f"runs={sweep}",
        f"output_dir={out}",
        "seeds_min=2",
        f"hydra.run.dir={tmp_path / 'tables_run'}",
    )
    for stem in ("table1_failure_detection", "table2_objectives", "table3_ambiguity", "table4_abstention"):
        for ext in ("md", "tex", "csv"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, (stem, ext)
    assert (out / "figure1_s_vs_hn.png").stat().st_size > 1000
    assert (out / "figure2_risk_coverage.png").stat().st_size > 1000
    html = (out / "index.html").read_text()
    assert "table2_objectives" in html or "Table 2" in html
    rows = list(csv.DictReader((out / "table2_objectives.csv").open()))
    by_objective = {r["objective"]: r for r in rows}
    assert set(by_objective) == {"ce", "sua_tr"}
    n_cols = [k for k in rows[0] if k.endswith(" n")]
    assert n_cols and all(by_objective[o][c] == "2" for o in by_objective for c in n_cols)  # 2 seeds per cell


def test_ddp_sim_writes_one_run_dir_with_one_metrics_file(tmp_path, data_dir):
    run_dir = tmp_path / "ddp"
    _run(
        "sua_exp.train",
        "experiment=smoke",
        "trainer=ddp_sim",
        "score.mc_samples=0",
        "extras.print_config=false",
        f"hydra.run.dir={run_dir}",
    )
    assert len(list(tmp_path.rglob("metrics.json"))) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["eval/num_examples"] == 100
    assert len(list(tmp_path.rglob("per_example.jsonl"))) == 1


@pytest.mark.parametrize("launcher", ["basic", "joblib", "local_parallel", "submitit_slurm", "slurm_gpu"])
def test_launchers_compose(launcher):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "train", overrides=[f"hydra/launcher={launcher}", "trainer=multinode"], return_hydra_config=True
        )
    assert "_target_" in cfg.hydra.launcher
    if launcher == "slurm_gpu":
        from omegaconf import OmegaConf

        hydra_cfg = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
        assert hydra_cfg["gpus_per_node"] == "${trainer.devices}" and cfg.trainer.num_nodes == 2


def test_optuna_search_composes():
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=["hparams_search=sua_tr_optuna"], return_hydra_config=True)
    assert "OptunaSweeper" in cfg.hydra.sweeper._target_
    assert set(cfg.hydra.sweeper.params) == {"loss.lambda_c", "loss.lambda_e", "perturbation.strength"}
    assert cfg.optimized_metric.startswith("val/")
