"""Post-hoc temperature scaling (Guo et al. 2017), fitted on validation *logits* by NLL.

`T` is optimized as `log T` (so `T > 0` by construction) with L-BFGS and a strong-Wolfe line
search, in float64, like torch-uncertainty's `TemperatureScaler`. The NLL is quasi-convex in
`log T` (convex in `1/T`), so the local optimum is the global one; the result is clamped to
`[min_temperature, max_temperature]` (separable validation data pushes `T -> 0`), and the initial
temperature is kept when the optimizer does not improve on it. Dividing by a positive scalar is
order-preserving, so the argmax never changes (computed in float64, where distinct float32
logits stay distinct after the division).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


class TemperatureScaling:
    """`p = softmax(logits / T)` with `T` fitted by `fit(val_logits, val_labels)`."""

    def __init__(
        self,
        init_temperature: float = 1.0,
        max_iter: int = 200,
        min_temperature: float = 1e-2,
        max_temperature: float = 1e2,
    ) -> None:
        if not (
            0 < min_temperature <= init_temperature <= max_temperature and math.isfinite(max_temperature)
        ):
            raise ValueError(
                "temperature scaling needs 0 < min_temperature <= init_temperature <= max_temperature, got "
                f"{min_temperature}, {init_temperature}, {max_temperature}"
            )
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}")
        self.init_temperature = float(init_temperature)
        self.max_iter = int(max_iter)
        self.min_temperature = float(min_temperature)
        self.max_temperature = float(max_temperature)
        self.temperature = float(init_temperature)
        self.fitted = False

    @staticmethod
    def _check(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(logits).detach().to(torch.float64)
        y = torch.as_tensor(labels, device=x.device).detach().long().reshape(-1)
        if x.dim() != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(
                f"need logits [N>0, K] and labels [N], got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("temperature scaling got non-finite logits")
        return x, y

    @staticmethod
    def nll(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> float:
        """Mean NLL of `softmax(logits / temperature)` (float64)."""
        x, y = TemperatureScaling._check(logits, labels)
        return float(F.cross_entropy(x / temperature, y))

    def fit(self, logits: Tensor, labels: Tensor) -> float:
        """Fit `T` on validation logits `[N, K]` and labels `[N]`; returns (and stores) `T`."""
        with torch.inference_mode(False), torch.enable_grad():
            # works inside Lightning's test loop (inference mode): fit on normal tensor copies
            x, y = self._check(logits, labels)
            return self._fit(x.clone(), y.clone())

    def _fit(self, x: Tensor, y: Tensor) -> float:
        log_t = torch.tensor(math.log(self.init_temperature), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=self.max_iter, line_search_fn="strong_wolfe")
        lo, hi = math.log(self.min_temperature), math.log(self.max_temperature)

        def closure() -> Tensor:
            opt.zero_grad()
            # clamp keeps exp() finite if the line search probes far out (separable data)
            loss = F.cross_entropy(x / log_t.clamp(lo - 1.0, hi + 1.0).exp(), y)
            loss.backward()
            return loss

        opt.step(closure)
        t = float(log_t.detach().clamp(lo, hi).exp())
        with torch.no_grad():
            start = float(F.cross_entropy(x / self.init_temperature, y))
            fitted = float(F.cross_entropy(x / t, y)) if math.isfinite(t) else math.inf
        self.temperature = t if fitted <= start else self.init_temperature
        self.fitted = True
        return self.temperature

    def scale(self, logits: Tensor) -> Tensor:
        """Calibrated logits `logits / T`, in the input's floating dtype."""
        x = torch.as_tensor(logits)
        out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return (x.to(torch.float64) / self.temperature).to(out_dtype)

    def __call__(self, logits: Tensor) -> Tensor:
        """Calibrated probabilities `softmax(logits / T)` over the last dim."""
        x = torch.as_tensor(logits)
        out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return F.softmax(x.to(torch.float64) / self.temperature, dim=-1).to(out_dtype)

    def __repr__(self) -> str:
        return f"TemperatureScaling(temperature={self.temperature:.4g}, fitted={self.fitted})"
