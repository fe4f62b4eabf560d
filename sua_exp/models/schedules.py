"""Learning-rate schedules that need the run's total step count (known only inside Lightning)."""

from __future__ import annotations

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
