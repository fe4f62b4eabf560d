"""The LightningModule: a network and an objective passed in, trained and validated on labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from sua_exp.models.schedules import optimizer_config
from sua_exp.objectives.base import Objective


class ObjectiveModule(L.LightningModule):
    """What every training module shares: a network and an objective passed in, the clean
    inputs followed by the objective's views, a guard against non-finite losses, per-term
    logging, `val/acc_best` and the optimizer built from Hydra's partial factories."""

    def __init__(
        self,
        net: nn.Module,
        loss: Objective,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        train_perturbation: Callable[..., list[str]] | None = None,
    ) -> None:
        super().__init__()
        # net/loss/perturbation are modules or objects built from the run's Hydra config (saved
        # in the run dir); keeping them out of the checkpoint keeps it loadable with weights_only.
        self.save_hyperparameters(
            logger=False, ignore=["net", "loss", "optimizer", "scheduler", "train_perturbation"]
        )
        self.net = net
        self.loss_fn = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.train_perturbation = train_perturbation
        self.train_loss = MeanMetric()
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # in the checkpoint, so a resumed run keeps its best epoch

    def with_views(self, texts: list[str]) -> list[str]:
        """Clean texts followed by the objective's M views (view-major), for one shared forward.

        Views are perturbations from `train_perturbation` (the step number enters the seed, so
        each epoch sees fresh views of the same input), or, for objectives that compare dropout
        passes (R-Drop), unchanged copies of the clean texts (each copy gets its own mask).
        """
        m = self.loss_fn.num_views
        if m == 0:
            return texts
        if self.loss_fn.needs_dropout_pass:
            return texts * (m + 1)
        if self.train_perturbation is None:
            raise ValueError(
                f"loss '{type(self.loss_fn).__name__}' needs perturbed views: set model.train_perturbation"
            )
        out = list(texts)
        for view in range(m):
            out += self.train_perturbation(texts, view=view, seed=self.global_step * 1000 + view)
        return out

    def log_training_terms(self, terms: dict[str, Tensor], batch_size: int) -> Tensor:
        """Stop on a non-finite loss (the last good checkpoint stays); log the loss and each term."""
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss ({loss.item()}) at step {self.global_step}: stopping; "
                "the last good checkpoint is kept in the run dir"
            )
        self.train_loss(loss.detach())
        b = batch_size
        self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=b)
        for name, value in terms.items():
            if name != "loss":
                self.log(f"train/loss/{name}", value.detach(), on_step=True, on_epoch=True, batch_size=b)
        return loss

    def log_best(self, current: Tensor) -> None:
        """`val/acc_best` after each real validation epoch (sanity-check batches do not count)."""
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(current)
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        return optimizer_config(self, self.optimizer_factory, self.scheduler_factory)


class SUAModule(ObjectiveModule):
    """Fine-tunes `net` (a text adapter such as TextClassifier) with `loss` (an Objective).

    Objectives that need perturbed views (SUA-TR, R-Drop, ...) declare `num_views`; the views
    are produced from `train_perturbation` and share one forward with the clean batch.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: Objective,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        train_perturbation: Callable[..., list[str]] | None = None,
    ) -> None:
        super().__init__(net, loss, optimizer, scheduler, train_perturbation)
        k = net.num_labels
        self.train_acc = MulticlassAccuracy(num_classes=k, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=k, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=k, average="micro")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()

    def forward(self, texts: list[str], text_pairs: list[str] | None = None) -> Tensor:
        return self.net.logits_for(texts, text_pairs)

    def _views(self, batch: dict[str, Any]) -> tuple[list[str], list[str] | None]:
        """Clean texts and their views (`with_views`); second texts (pairs) are repeated."""
        texts, pairs = list(batch["texts"]), batch["text_pairs"]
        all_texts = self.with_views(texts)
        copies = len(all_texts) // max(1, len(texts))
        return all_texts, (list(pairs) * copies if pairs is not None else None)

    def _embedding_views(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """Clean logits and M embedding-space views (Gaussian or PGD/FGSM on input embeddings)."""
        enc = {
            k: v.to(self.device) for k, v in self.net.tokenize(batch["texts"], batch["text_pairs"]).items()
        }
        logits = self.net(**enc)
        views = [
            self.train_perturbation.view_logits(self.net, enc, logits, seed=self.global_step * 1000 + m)
            for m in range(self.loss_fn.num_views)
        ]
        return logits, torch.stack(views, dim=1)

    def _valid_mask(self, batch: dict[str, Any], logits: Tensor) -> Tensor | None:
        """[B, K] True on the valid labels of ambiguous examples (None when the batch has none)."""
        valid = batch.get("valid_labels")
        if not valid or all(v is None for v in valid):
            return None
        mask = torch.zeros(len(valid), logits.shape[-1], dtype=torch.bool, device=logits.device)
        for i, labels in enumerate(valid):
            if labels:
                mask[i, list(labels)] = True
        return mask

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        self.loss_fn.set_progress(self.global_step)  # lambda warm-up
        b = len(batch["texts"])
        if getattr(self.train_perturbation, "space", None) == "embedding" and self.loss_fn.num_views:
            logits, view_logits = self._embedding_views(batch)
        else:
            texts, pairs = self._views(batch)
            logits = self(texts, pairs)  # clean and text-level views share one forward
            view_logits = (
                logits[b:].view(self.loss_fn.num_views, b, -1).transpose(0, 1)
                if logits.shape[0] > b
                else None
            )
        terms = self.loss_fn(
            logits[:b], batch["labels"], view_logits, valid_mask=self._valid_mask(batch, logits)
        )
        loss = self.log_training_terms(terms, b)
        self.train_acc(logits[:b].detach(), batch["labels"])
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)
        return loss

    def _eval_step(self, batch: dict[str, Any], acc, loss_metric, stage: str) -> None:
        logits = self(batch["texts"], batch["text_pairs"])
        loss = nn.functional.cross_entropy(logits.float(), batch["labels"])
        loss_metric(loss)
        acc(logits, batch["labels"])
        b = len(batch["texts"])
        self.log(f"{stage}/loss", loss_metric, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, self.val_acc, self.val_loss, "val")

    def on_validation_epoch_end(self) -> None:
        self.log_best(self.val_acc.compute())

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, self.test_acc, self.test_loss, "test")
