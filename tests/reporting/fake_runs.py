"""Fake but structurally real run dirs (what `sua-train` writes), for the `sua-tables` tests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SCORES = (
    "msp",
    "entropy",
    "margin",
    "self_consistency",
    "mutual_info",
    "sensitivity",
    "sua",
    "sua_plus",
    "u_sua",
)

# per loss, per seed: the values the tests aggregate by hand
AUROC_U_SUA = {"ce": {1: 0.70, 2: 0.72, 3: 0.74}, "sua_tr": {1: 0.80, 2: 0.83, 3: 0.86}}
ACC_CLEAN = {"ce": {1: 0.90, 2: 0.92, 3: 0.91}, "sua_tr": {1: 0.89, 2: 0.90, 3: 0.94}}
ECE_CLEAN = {"ce": {1: 0.05, 2: 0.07, 3: 0.06}, "sua_tr": {1: 0.02, 2: 0.03, 3: 0.04}}
# rob/asr only in two seeds of sua_tr: a cell with n = 2 < seeds_min
ASR = {"sua_tr": {1: 0.30, 2: 0.40}}
LOSS_TARGETS = {"ce": "sua_exp.objectives.CrossEntropy", "sua_tr": "sua_exp.objectives.SUATR"}


def metrics_for(loss: str, seed: int) -> dict[str, float]:
    k = seed / 100.0
    m: dict[str, float] = {
        "task/acc/clean": ACC_CLEAN[loss][seed],
        "task/acc/perturbed": ACC_CLEAN[loss][seed] - 0.05,
        "rob/acc/clean": ACC_CLEAN[loss][seed],
        "rob/acc/worst": ACC_CLEAN[loss][seed] - 0.10,
        "cal/ece/clean": ECE_CLEAN[loss][seed],
        "cal/ece/perturbed": ECE_CLEAN[loss][seed] + 0.01,
        "sua/mean_plus": 0.01 + k,
        "sua/mean_plus/clean": 0.01 + k,
        "sua/mean_plus/perturbed": 0.02 + k,
        "cert/r_worst": 0.2,
        "cert/bound": 0.25,
        "score/alpha": 1.0,
        "abstain/tau/clean": 0.5,
        "abstain/target_alpha/clean": 0.1,
        "abstain/delta/clean": 0.1,
        "abstain/risk/clean": 0.08 + k,
        "abstain/coverage/clean": 0.9 - k,
        "abstain/risk_violated/clean": 1.0 if seed == 3 and loss == "ce" else 0.0,
        "val/acc": 0.9,
    }
    if seed in ASR.get(loss, {}):
        m["rob/asr"] = ASR[loss][seed]
    for s in SCORES:
        m[f"cost/{s}"] = 5.0 if s in ("sensitivity", "sua", "sua_plus", "u_sua") else 1.0
        for cond in ("clean", "perturbed", "worst"):
            base = AUROC_U_SUA[loss][seed] if s == "u_sua" else 0.6 + k
            shift = {"clean": 0.0, "perturbed": -0.05, "worst": -0.1}[cond]
            m[f"fd/auroc/{s}/{cond}"] = base + shift
            m[f"fd/prr/{s}/{cond}"] = base + shift - 0.1
            m[f"fd/aurc/{s}/{cond}"] = 0.05 + k
            m[f"sc/risk@0.8/{s}/{cond}"] = 0.04 + k
            m[f"sc/cov@0.05/{s}/{cond}"] = 0.8 - k
        m[f"fd/auroc/{s}"] = m[f"fd/auroc/{s}/clean"]
    return m


def per_example_rows(seed: int, n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        p = 0.55 + 0.05 * i if i < 7 else 0.99
        correct = i % 3 != 0
        views = {}
        for cond in ("clean", "perturbed"):
            hn = 1.0 - p
            s = 0.1 * ((i + seed) % 4)
            views[cond] = {
                "probs": [p, 1.0 - p],
                "pred": 0,
                "correct": correct,
                "Hn": hn,
                "S": s,
                "SUA": s - hn,
                "U_sua": hn + max(s - hn, 0.0),
                "msp": p,
            }
        rows.append({"id": f"ex-{i}", "label": 0, **views, "worst": {"correct": correct}})
    return rows


def write_run(
    run_dir: Path,
    loss: str,
    seed: int,
    metrics: dict | None = None,
    data: str = "sarcasm",
    per_example: bool = True,
    hydra_yaml: bool = True,
) -> Path:
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = {
        "task_name": "train",
        "tags": ["test"],
        "seed": seed,
        "data": {
            "_target_": "sua_exp.data.ClassificationDataModule",
            "name": data,
            "data_dir": "${paths.data_dir}",
        },
        "model": {"_target_": "sua_exp.models.SUAModule", "net": {"pretrained": None, "num_labels": "???"}},
        "loss": {"_target_": LOSS_TARGETS.get(loss, "sua_exp.objectives.CrossEntropy")},
        "perturbation": {"_target_": "sua_exp.perturb.Mixture", "name": None},
        "abstain": {"_target_": "sua_exp.abstain.Abstainer", "score": "u_sua", "alpha": 0.1},
    }
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    if hydra_yaml:
        choices = {"loss": loss, "model": "tiny", "data": data, "perturbation": "default"}
        hydra_cfg = {"hydra": {"runtime": {"choices": choices, "output_dir": str(run_dir)}}}
        (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra_cfg))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"loss={loss}", f"seed={seed}"]))
    (run_dir / "run_info.json").write_text(json.dumps({"seed": seed}))
    (run_dir / "train.log").write_text("training...\n")
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if per_example:
        with open(run_dir / "per_example.jsonl", "w") as fh:
            for row in per_example_rows(seed):
                fh.write(json.dumps(row) + "\n")
    return run_dir


def make_multirun(root: Path) -> Path:
    """2 losses x 3 seeds (jobs 0-5) + job 6: a failed run (config and log, no metrics.json)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    job = 0
    for loss in ("ce", "sua_tr"):
        for seed in (1, 2, 3):
            write_run(root / str(job), loss, seed, metrics_for(loss, seed))
            job += 1
    write_run(root / str(job), "sua_tr", 4, metrics=None, per_example=False)
    return root
