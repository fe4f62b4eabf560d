"""Learning-rate schedules that need the run's total step count (known only inside Lightning)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def linear_warmup_decay(optimizer: Optimizer, total_steps: int, warmup_ratio: float = 0.06) -> LambdaLR:
    """Linear warm-up over `warmup_ratio` of the steps, then linear decay to zero (BERT fine-tuning)."""
    total = max(1, int(total_steps))
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)


def optimizer_config(
    module: Any, optimizer: Callable[..., Optimizer], scheduler: Callable[..., Any] | None
) -> dict[str, Any]:
    """`configure_optimizers` of a LightningModule built with partial optimizer/scheduler
    factories from Hydra: trainable parameters only, the scheduler stepped every batch."""
    opt = optimizer(params=[p for p in module.parameters() if p.requires_grad])
    if scheduler is None:
        return {"optimizer": opt}
    sched = scheduler(optimizer=opt, total_steps=module.trainer.estimated_stepping_batches)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
