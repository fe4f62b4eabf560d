"""`sua-eval`: score a checkpoint (or the untrained pretrained model) under perturbations.

Same outputs as the evaluation step of `sua-train`: `metrics.json` and `per_example.jsonl` in
the Hydra run dir. Checkpoints are read with `torch.load(weights_only=True)` (or safetensors).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from sua_exp.data.extractive_qa import ExtractiveQADataModule
from sua_exp.data.sources import project_root
from sua_exp.evaluation.extractive_qa import evaluate_extractive_qa, is_span_qa_run, recompute_qa_metrics
from sua_exp.evaluation.multiple_choice import choice_ambiguity_metrics
from sua_exp.evaluation.runner import evaluate_classification, read_per_example, recompute_metrics
from sua_exp.models.choice_encoder import match_datamodule
from sua_exp.utils.components import EvalComponents, build_eval_components
from sua_exp.utils.io import write_json_atomic
from sua_exp.utils.runtime import apply_extras, run_metadata

log = logging.getLogger("sua_exp")
CONF_DIR = str(project_root() / "conf")


def load_net_weights(net: torch.nn.Module, ckpt_path: str | Path) -> None:
    """Load a Lightning checkpoint (its `net.` weights) or a safetensors file into `net`, safely."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        state = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")} or state
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: checkpoint does not fit model.net (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def instantiate_net(cfg: DictConfig, datamodule: L.LightningDataModule) -> torch.nn.Module:
    """`model.net`, sized by the data's label set where it has one (span QA has none)."""
    if isinstance(datamodule, ExtractiveQADataModule):
        return hydra.utils.instantiate(cfg.model.net)
    return hydra.utils.instantiate(cfg.model.net, num_labels=datamodule.num_labels)


def score_test_split(
    cfg: DictConfig,
    net: torch.nn.Module,
    datamodule: L.LightningDataModule,
    components: EvalComponents | None = None,
) -> dict[str, float]:
    """The perturbation evaluation of DESIGN section 2 on the test split; writes per_example.jsonl."""
    components = components or build_eval_components(cfg)
    if isinstance(datamodule, ExtractiveQADataModule):
        return score_extractive_qa(cfg, net, datamodule, components)
    metrics, _ = evaluate_classification(
        net.predict_proba,
        datamodule.splits["test"],
        components.perturbation,
        components.suite,
        seed=cfg.seed,
        failure_views=cfg.get("failure_views"),
        sample=getattr(net, "sample_proba", None),
        val_examples=datamodule.splits.get("val"),
        abstainer=components.abstainer,
        attack=components.attack,
        ambiguous_examples=components.ambiguous(datamodule),
        rows_path=Path(cfg.paths.output_dir) / "per_example.jsonl",
        chunk_size=cfg.eval_chunk_size,
    )
    mc_test = getattr(datamodule, "mc_splits", {}).get("test")
    if mc_test:  # multiple choice with an encoder: ambiguity collapse on BBQ's ambiguous contexts
        rows = read_per_example(Path(cfg.paths.output_dir) / "per_example.jsonl")
        metrics.update(choice_ambiguity_metrics(mc_test, rows, float(cfg.get("tau_c", 0.9))))
    return metrics


def score_extractive_qa(
    cfg: DictConfig, net: torch.nn.Module, datamodule: ExtractiveQADataModule, components: EvalComponents
) -> dict[str, float]:
    """The same evaluation for span QA: answers over a shared span set per question."""
    if components.attack is not None or components.ambiguity is not None:
        raise ValueError("attack= and ambiguity= are classification conditions: set them to null for QA")
    metrics, _ = evaluate_extractive_qa(
        net,
        datamodule.splits["test"],
        components.perturbation,
        components.suite,
        seed=cfg.seed,
        failure_views=cfg.get("failure_views"),
        val_examples=datamodule.splits.get("val"),
        abstainer=components.abstainer,
        rows_path=Path(cfg.paths.output_dir) / "per_example.jsonl",
    )
    return metrics


def evaluate(cfg: DictConfig) -> dict[str, float]:
    apply_extras(cfg)
    out = Path(cfg.paths.output_dir)
    write_json_atomic(out / "run_info.json", run_metadata(cfg))
    if cfg.get("recompute_from"):
        # new scores/metrics from a saved per_example.jsonl: no model, no forward pass
        suite = hydra.utils.instantiate(cfg.score)
        if is_span_qa_run(cfg.recompute_from):
            metrics = recompute_qa_metrics(cfg.recompute_from, suite, cert_t=float(cfg.get("cert_t", 0.1)))
        else:
            metrics = recompute_metrics(cfg.recompute_from, suite)
        write_json_atomic(out / "metrics.json", metrics)
        log.info("metrics recomputed from %s into %s", cfg.recompute_from, out / "metrics.json")
        return metrics
    components = build_eval_components(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = match_datamodule(hydra.utils.instantiate(cfg.data), cfg.model.net)
    datamodule.setup()
    net = instantiate_net(cfg, datamodule)
    if cfg.get("ckpt_path"):
        load_net_weights(net, cfg.ckpt_path)
    else:
        log.warning("ckpt_path is null: evaluating the untrained model (pretrained encoder, random head)")
    metrics = score_test_split(cfg, net, datamodule, components)
    write_json_atomic(out / "metrics.json", metrics)
    log.info("metrics written to %s", out / "metrics.json")
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
