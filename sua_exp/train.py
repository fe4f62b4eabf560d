"""`sua-train`: fine-tune a model, test it, then score the test split under perturbations.

Writes into the Hydra run dir: `metrics.json` (flat `section/metric[/variant]` keys),
`per_example.jsonl` (probabilities, H, S, SUA, U_sua, correctness per example), `run_info.json`
(seed, git commit, package versions) and Lightning checkpoints.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from sua_exp.data import ClassificationDataModule
from sua_exp.data.choice_classification import ChoiceClassificationDataModule
from sua_exp.data.classification import text_pairs_of
from sua_exp.data.extractive_qa import ExtractiveQADataModule
from sua_exp.data.sources import project_root
from sua_exp.evaluate import instantiate_net, score_test_split
from sua_exp.models.choice_encoder import match_datamodule
from sua_exp.objectives.temperature import TemperatureScaling
from sua_exp.utils.components import build_eval_components
from sua_exp.utils.io import write_json_atomic
from sua_exp.utils.runtime import (
    apply_extras,
    find_resume_checkpoint,
    instantiate_group,
    run_metadata,
    sync_csv_loggers,
)

log = logging.getLogger("sua_exp")
CONF_DIR = str(project_root() / "conf")


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Datamodule first (its label set sizes the network), then network + objective -> module."""
    if "_target_" not in cfg.model:
        raise ValueError(
            "this model config has no LightningModule (_target_): it is an LLM for sua-llm-eval; "
            "sua-train fine-tunes encoders (model=minilm or model=tiny)"
        )
    datamodule = match_datamodule(hydra.utils.instantiate(cfg.data), cfg.model.net)
    if isinstance(datamodule, ExtractiveQADataModule):
        if not str(cfg.model.get("_target_", "")).endswith("SpanQAModule"):
            raise ValueError(
                f"data={datamodule.name} is extractive QA: use a span model (model=minilm_qa or model=tiny_qa)"
            )
    elif not isinstance(datamodule, ClassificationDataModule | ChoiceClassificationDataModule):
        raise ValueError(
            f"data={cfg.data.get('name')} is evaluation data for the LLM (option scoring or generative "
            "QA): evaluate it with sua-llm-eval"
        )
    datamodule.setup()
    net = instantiate_net(cfg, datamodule)
    loss = hydra.utils.instantiate(cfg.loss) if cfg.get("loss") else None
    module = hydra.utils.instantiate(cfg.model, net=net, loss=loss)
    return datamodule, module


def fit_temperature(net, val_examples) -> float:
    """Post-hoc temperature scaling: T fitted by NLL on validation logits, then used by the adapter."""
    texts = [ex.text for ex in val_examples]
    pairs = text_pairs_of(val_examples)
    labels = torch.tensor([ex.label for ex in val_examples], dtype=torch.long)
    net.temperature = TemperatureScaling().fit(net.predict_logits(texts, pairs), labels)
    log.info("post-hoc temperature fitted on %d validation examples: T=%.4f", len(texts), net.temperature)
    return float(net.temperature)


def train(cfg: DictConfig) -> dict[str, float]:
    apply_extras(cfg)
    out = Path(cfg.paths.output_dir)
    write_json_atomic(out / "run_info.json", run_metadata(cfg))
    components = build_eval_components(cfg)  # fail on bad score/abstain/perturbation keys before training
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module = build(cfg)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"), output_dir=out)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for logger in trainer.loggers:  # the whole composed config, so dashboards can group/filter by any key
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))

    metrics: dict[str, float] = {}
    if cfg.train:
        ckpt_path = cfg.get("ckpt_path") or find_resume_checkpoint(out)
        if ckpt_path:
            log.info("resuming from %s", ckpt_path)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if cfg.test:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        sync_csv_loggers(trainer.loggers)
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        if getattr(module.loss_fn, "post_hoc", None) == "temperature":
            metrics["cal/temperature"] = fit_temperature(module.net, datamodule.splits["val"])
        if trainer.is_global_zero:
            metrics.update(score_test_split(cfg, module.net, datamodule, components))
    if trainer.is_global_zero:
        summary = {
            k: v
            for k, v in metrics.items()
            if k.startswith(("task/", "fd/", "cal/", "sua/", "cert/", "rob/", "amb/"))
        }
        sync_csv_loggers(trainer.loggers)
        for logger in trainer.loggers:  # dashboards (and metrics.csv) get the evaluation summary
            logger.log_metrics(summary)
            logger.save()
        write_json_atomic(out / "metrics.json", metrics)
        log.info("metrics written to %s", out / "metrics.json")
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


if __name__ == "__main__":
    main()
