"""End-to-end runs of the console scripts on the tiny model and real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, compose_config

REQUIRED_KEYS = [
    "task/acc/clean",
    "task/acc/perturbed",
    "rob/acc/worst",
    "cal/ece/clean",
    "cal/ece/perturbed",
    "sua/mean_plus",
    "cert/r_worst",
    "cert/bound",
    *[f"fd/auroc/{s}" for s in ("msp", "entropy", "sensitivity", "sua", "u_sua")],
    *[f"fd/auroc/{s}/perturbed" for s in ("msp", "entropy", "sensitivity", "sua", "u_sua")],
]


def run_cli(script: str, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    cmd = [sys.executable, "-m", f"sua_exp.{script}", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_fast_dev_run_tiny(tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config(
        "train",
        [
            "model=tiny",
            "logger=csv",
            "+trainer.fast_dev_run=true",
            "score.num_views=2",
            "data.max_test_samples=40",
        ],
        output_dir=tmp_path,
    )
    metrics = train(cfg)
    assert 0.0 <= metrics["task/acc/clean"] <= 1.0
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "per_example.jsonl").is_file()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, data_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("smoke")
    run_cli("train", "experiment=smoke", "seed=3", "logger=many_loggers", f"hydra.run.dir={run_dir}")
    return run_dir


def test_smoke_train_writes_metrics_and_per_example(smoke_run):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    missing = [k for k in REQUIRED_KEYS if k not in metrics]
    assert not missing, missing
    assert metrics["cert/r_worst"] <= metrics["cert/bound"] + 1e-9  # the flip certificate is a theorem
    assert metrics["rob/acc/worst"] <= metrics["task/acc/clean"] + 1e-9
    rows = [json.loads(line) for line in (smoke_run / "per_example.jsonl").read_text().splitlines()]
    assert len(rows) == metrics["eval/num_examples"] == 100
    row = rows[0]
    assert abs(sum(row["clean"]["probs"]) - 1) < 1e-5 and len(row["clean"]["view_probs"]) == 2
    for key in ("H", "Hn", "S", "SUA", "U_sua"):
        assert key in row["clean"] and key in row["perturbed"]
    acc = sum(r["clean"]["correct"] for r in rows) / len(rows)
    assert abs(acc - metrics["task/acc/clean"]) < 1e-9
    info = json.loads((smoke_run / "run_info.json").read_text())
    assert info["seed"] == 3 and info["packages"]["torch"]
    assert (smoke_run / "checkpoints" / "last.ckpt").is_file()
    assert list((smoke_run / "csv").rglob("metrics.csv"))
    # W&B logs offline into the run dir: no account, no network; `wandb sync` uploads it later
    offline_runs = list((smoke_run / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and list(offline_runs[0].glob("*.wandb"))


def test_eval_cli_on_checkpoint(smoke_run, tmp_path):
    (ckpt,) = (smoke_run / "checkpoints").glob("epoch_*.ckpt")  # the best epoch, which the run tested
    run_cli("evaluate", "experiment=smoke", f"ckpt_path={ckpt}", "seed=3", f"hydra.run.dir={tmp_path}")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    train_metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert metrics.keys() >= set(REQUIRED_KEYS)
    # the same weights and seed: evaluation reproduces the training run's numbers
    assert metrics["task/acc/clean"] == pytest.approx(train_metrics["task/acc/clean"])
    assert metrics["fd/auroc/u_sua"] == pytest.approx(train_metrics["fd/auroc/u_sua"], nan_ok=True)


def test_jsonl_classification_on_any_files(tmp_path, data_dir):
    src = (data_dir / "classification" / "sarcasm_headlines.jsonl").read_text().splitlines()
    files = {}
    for name, (a, b) in {"train": (0, 200), "val": (200, 260), "test": (260, 320)}.items():
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("\n".join(src[a:b]) + "\n")
    run_dir = tmp_path / "run"
    run_cli(
        "train",
        "experiment=smoke",
        "data=jsonl_classification",
        f"data.train_file={files['train']}",
        f"data.val_file={files['val']}",
        f"data.test_file={files['test']}",
        f"hydra.run.dir={run_dir}",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["eval/num_examples"] == 60


@pytest.mark.parametrize(
    "loss",
    [
        "sua_tr",
        "rdrop",
        "consistency",
        "entropy_align",
        "label_smoothing",
        "confidence_penalty",
        "temperature_scaling",
    ],
)
def test_every_objective_trains_tiny(loss, tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config(
        "train",
        [
            "model=tiny",
            "logger=csv",
            f"loss={loss}",
            "+trainer.fast_dev_run=2",
            "score.num_views=2",
            "score.mc_samples=0",
            "data.max_test_samples=40",
            "data.max_val_samples=60",
        ],
        output_dir=tmp_path,
    )
    metrics = train(cfg)
    assert 0.0 <= metrics["task/acc/clean"] <= 1.0
    if loss in ("sua_tr", "consistency"):
        assert metrics["train/loss/consistency_epoch"] >= 0.0
        assert "train/loss/sua_plus_epoch" in metrics
    if loss == "temperature_scaling":
        assert metrics["cal/temperature"] > 0 and metrics["cal/temperature"] != 1.0


def test_recompute_from_per_example_file_matches_metrics_json(smoke_run):
    """A saved run's per-example file reproduces its metrics.json without a forward pass (1e-9)."""
    from omegaconf import OmegaConf

    from sua_exp.evaluation.runner import recompute_metrics
    from sua_exp.scores import ScoreSuite

    metrics = json.loads((smoke_run / "metrics.json").read_text())
    score_cfg = OmegaConf.to_container(OmegaConf.load(smoke_run / ".hydra" / "config.yaml").score)
    score_cfg.pop("_target_")
    score_cfg["alpha"] = metrics["score/alpha"]
    again = recompute_metrics(smoke_run / "per_example.jsonl", ScoreSuite(**score_cfg))
    assert len(again) > 200
    for key, value in again.items():
        saved = metrics[key]
        if saved is None:  # NaN is written as null
            assert value != value, key
        else:
            assert abs(value - saved) <= 1e-9, (key, value, saved)


def test_readme_low_level_api_example_runs_as_written(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Low-level API", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'sensitivity': 0.35" in out and "'u_sua': 0.469" in out


@pytest.mark.parametrize("view", ["embedding/gaussian", "embedding/pgd"])
def test_sua_tr_with_embedding_space_views(view, tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config(
        "train",
        [
            "model=tiny",
            "logger=csv",
            "loss=sua_tr",
            "+model.train_perturbation={}",
            "+trainer.fast_dev_run=2",
            "score.num_views=2",
            "score.mc_samples=0",
            "data.max_test_samples=20",
            "data.max_val_samples=40",
        ],
        output_dir=tmp_path,
    )
    from omegaconf import OmegaConf, open_dict

    with open_dict(cfg):
        cfg.model.train_perturbation = OmegaConf.load(ROOT / "conf" / "perturbation" / f"{view}.yaml")
    metrics = train(cfg)
    assert metrics["train/loss/consistency_epoch"] > 0.0  # the embedding views really differ from clean


def test_table3_smoke_reports_ambiguity_collapse(tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config(
        "train",
        [
            "experiment=table3_ambiguity",
            "size=smoke",
            "score.mc_samples=0",
            "ambiguity.mixtures=30",
            "+trainer.fast_dev_run=2",
        ],
        output_dir=tmp_path,
    )
    metrics = train(cfg)
    assert metrics["amb/num_examples"] == 30
    assert {"amb/collapse_rate", "amb/mass_on_valid", "amb/js_to_human", "amb/entropy_gap"} <= metrics.keys()


@pytest.mark.parametrize(
    "experiment", ["table1_failure_detection", "table2_objectives", "table3_ambiguity", "table4_abstention"]
)
def test_every_table_experiment_runs_at_smoke_size(experiment, tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config(
        "train",
        [
            f"experiment={experiment}",
            "size=smoke",
            "+trainer.fast_dev_run=2",
            "data.max_test_samples=30",
            "data.max_val_samples=40",
            "ambiguity.mixtures=10" if experiment == "table3_ambiguity" else "seed=1",
        ],
        output_dir=tmp_path,
    )
    metrics = train(cfg)
    assert cfg.model.net.pretrained is None  # smoke size: the tiny model
    assert metrics["eval/num_examples"] == 30
    assert "fd/auroc/u_sua/perturbed" in metrics and "abstain/coverage/clean" in metrics


def test_greedy_attack_on_a_fine_tuned_tiny_transformer(tmp_path, data_dir):
    """The attack finds successful attacks on real headlines against a trained tiny BERT, within budget."""
    from sua_exp.perturb import GreedyWordSubstitution
    from sua_exp.train import build

    cfg = compose_config("train", ["experiment=smoke", "seed=1"], output_dir=tmp_path)
    import lightning as L

    L.seed_everything(1)
    datamodule, module = build(cfg)
    L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, datamodule=datamodule)
    attack = GreedyWordSubstitution(
        wordnet_dir=str(data_dir / "lexicon" / "wordnet"), max_queries=60, max_modification_rate=0.3
    )
    test = datamodule.splits["test"][:40]
    results = attack.attack([ex.text for ex in test], [ex.label for ex in test], module.net.predict_proba)
    attacked = [r for r in results if not r.skipped]
    assert attacked and any(r.success for r in attacked)
    for r in results:
        assert r.queries <= 60 and r.modification_rate <= 0.3 + 1e-9
        if r.success:
            assert int(module.net.predict_proba([r.attacked]).argmax()) != r.label
