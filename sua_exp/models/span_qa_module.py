"""The LightningModule for extractive QA: a span network and an objective passed in.

The objectives are the classification ones, unchanged (they see distributions): the start and
the end of the answer are two distributions over [CLS] + the context tokens (`AlignedSpans`),
aligned across the clean question and its perturbed views (only the question is perturbed, the
context is kept), and the objective's terms are the mean of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from sua_exp.evaluation.squad import exact_match, f1
from sua_exp.models.module import ObjectiveModule
from sua_exp.models.span_qa import SpanQA
from sua_exp.objectives.base import Objective


class SpanQAModule(ObjectiveModule):
    """Fine-tunes a `SpanQA` net with `loss` (an Objective); logs SQuAD EM (as `*/acc`, the
    metric checkpoints and early stopping follow) and F1 on validation and test."""

    def __init__(
        self,
        net: SpanQA,
        loss: Objective,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        train_perturbation: Callable[..., list[str]] | None = None,
    ) -> None:
        super().__init__(net, loss, optimizer, scheduler, train_perturbation)
        self.metrics = nn.ModuleDict(
            {f"{stage}_{name}": MeanMetric() for stage in ("val", "test") for name in ("loss", "em", "f1")}
        )
        if getattr(train_perturbation, "space", None) == "embedding":
            raise ValueError(
                "model.train_perturbation: embedding-space views are not supported for span QA; "
                "use a text perturbation of the question"
            )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        self.loss_fn.set_progress(self.global_step)
        b, m = len(batch["questions"]), self.loss_fn.num_views
        questions = self.with_views(list(batch["questions"]))
        copies = len(questions) // b
        spans = self.net.aligned_logits(
            questions, list(batch["contexts"]) * copies, list(batch["answers"]) * copies
        )
        terms: dict[str, Tensor] = {}
        for logits, positions in ((spans.start, spans.start_positions), (spans.end, spans.end_positions)):
            views = logits[b:].view(m, b, -1).transpose(0, 1) if m else None
            for name, value in self.loss_fn(logits[:b], positions[:b], views).items():
                terms[name] = terms.get(name, 0.0) + value / 2
        return self.log_training_terms(terms, b)

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        contexts = list(batch["contexts"])
        spans = self.net.aligned_logits(list(batch["questions"]), contexts, list(batch["answers"]))
        ce = nn.functional.cross_entropy
        loss = (
            ce(spans.start.float(), spans.start_positions) + ce(spans.end.float(), spans.end_positions)
        ) / 2
        preds = spans.best_spans(contexts, self.net.max_answer_len)
        b = len(preds)
        em = torch.tensor([exact_match(p, g) for p, g in zip(preds, batch["gold_texts"], strict=True)])
        f1s = torch.tensor([f1(p, g) for p, g in zip(preds, batch["gold_texts"], strict=True)])
        for name, value in (("loss", loss), ("em", em.mean()), ("f1", f1s.mean())):
            metric = self.metrics[f"{stage}_{name}"]
            metric(value, b)
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)
        # exact match is QA's accuracy: checkpoints, early stopping and sweeps monitor */acc
        self.log(f"{stage}/acc", self.metrics[f"{stage}_em"], on_step=False, on_epoch=True, batch_size=b)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self.log_best(self.metrics["val_em"].compute())

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")
