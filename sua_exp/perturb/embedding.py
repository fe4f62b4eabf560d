"""Embedding-space perturbations of a Hugging Face encoder (DESIGN section 3).

The perturbation is added to the *word* embeddings (``net.model.get_input_embeddings()``) of the
real tokens; the model adds its position / token-type embeddings itself when it is called with
``inputs_embeds``. Padding positions (``attention_mask == 0``) are never perturbed.

* :class:`EmbeddingGaussian`: ``delta ~ N(0, sigma^2)`` per coordinate (``sigma = 0`` gives the
  clean logits).
* :class:`EmbeddingPGD`: ``steps`` steps of projected gradient ascent on
  ``KL(p(x) || p(x + delta))`` with ``p(x)`` detached (TRADES), in the ball
  ``||delta||_2 <= epsilon`` (``norm="l2"``; the norm of one example's whole ``[L, D]``
  perturbation over its real tokens, as FreeLB) or ``|delta|_inf <= epsilon`` (``norm="linf"``).
  FGSM is ``steps=1, step_size=epsilon``. The KL has zero gradient at ``delta = 0``, so the
  search starts from a uniform point of the ball (``random_start=True``, Madry et al.) or, as
  TRADES does, from a small Gaussian (``0.001 * epsilon`` scale) otherwise. The inner loop runs
  in eval mode (no dropout; TRADES does the same), takes gradients with respect to ``delta``
  only (``torch.autograd.grad``: no ``.grad`` is left on the parameters) and restores every
  submodule's train/eval mode; the returned view logits are then computed in the caller's mode,
  with gradients to the parameters when grad mode is on (the perturbed view of a training step).

Both classes have ``space = "embedding"`` (text perturbations have no ``space`` attribute) so the
training module can route them, and two entry points:

* ``view_logits(net, encodings, clean_logits, seed=None) -> [B, K]``: the logits of one
  perturbed view of a tokenized batch (training). ``seed=None`` draws from the object's own
  generator (seeded by ``seed`` at construction, advancing at each call).
* ``eval_views(net, texts, pairs, num_views, seed) -> [N, M, K]`` probabilities (evaluation,
  eval mode, the net's post-hoc temperature applied). The random draws for a text depend only on
  (seed, name, view, text, pair), not on the batch it is in.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sua_exp.perturb.base import stable_key

if TYPE_CHECKING:
    from sua_exp.models.encoders import TextClassifier

__all__ = ["EmbeddingGaussian", "EmbeddingPGD", "EmbeddingPerturbation"]

_TINY = 1e-12


def _row_norm(x: Tensor) -> Tensor:
    """L2 norm of each example's whole perturbation: [B, L, D] -> [B, 1, 1]."""
    return x.flatten(1).norm(dim=1).clamp_min(_TINY).view(-1, 1, 1)


def _randn(shape: tuple[int, ...], gen: torch.Generator, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(device=like.device, dtype=like.dtype)


def _rand(shape: tuple[int, ...], gen: torch.Generator, like: Tensor) -> Tensor:
    return torch.rand(shape, generator=gen, dtype=torch.float32).to(device=like.device, dtype=like.dtype)


class EmbeddingPerturbation:
    """Base class: word-embedding lookup, masking, model call and the evaluation loop."""

    name: str = "embedding"
    space: str = "embedding"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._calls = 0

    # ------------------------------------------------------------------ to implement
    def delta(
        self,
        net: TextClassifier,
        embeds: Tensor,
        mask: Tensor,
        extra: dict[str, Tensor],
        clean_logits: Tensor,
        gens: list[torch.Generator],
    ) -> Tensor:
        """The perturbation [B, L, D] (zero where ``mask`` is 0), without gradient."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _split(encodings: dict[str, Tensor]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        if "input_ids" not in encodings:
            raise KeyError("encodings need input_ids (net.tokenize(...) output)")
        ids = encodings["input_ids"]
        mask = encodings.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(ids)
        extra = {k: v for k, v in encodings.items() if k not in ("input_ids", "inputs_embeds")}
        extra["attention_mask"] = mask
        return ids, mask, extra

    @staticmethod
    def forward_embeds(net: TextClassifier, embeds: Tensor, extra: dict[str, Tensor]) -> Tensor:
        """Logits [B, K] of ``net.model`` called with word embeddings instead of token ids."""
        return net.model(inputs_embeds=embeds, **extra).logits

    def _generators(
        self, batch: int, seed: int | None, row_seeds: Sequence[int] | None
    ) -> list[torch.Generator]:
        """One CPU generator per example (row_seeds) or one shared by the batch."""
        if row_seeds is not None:
            if len(row_seeds) != batch:
                raise ValueError(f"{len(row_seeds)} row seeds for a batch of {batch}")
            return [torch.Generator().manual_seed(int(s) & (2**63 - 1)) for s in row_seeds]
        if seed is None:
            seed = stable_key(self.seed, self.name, self._calls, "")
            self._calls += 1
        gen = torch.Generator().manual_seed(int(seed) & (2**63 - 1))
        return [gen] * batch

    @staticmethod
    def _per_row(fn, gens: list[torch.Generator], like: Tensor, mask: Tensor) -> Tensor:
        """A random tensor shaped like ``like`` [B, L, D], zero where ``mask`` [B, L, 1] is 0.

        With one generator per example, row b holds ``fn((n_b, D))`` drawn from ``gens[b]`` on
        its ``n_b`` real positions only, so the draw does not depend on the batch's padding.
        """
        if all(g is gens[0] for g in gens):
            return fn(tuple(like.shape), gens[0], like) * mask
        out = torch.zeros_like(like)
        real = mask[..., 0] > 0
        for b, g in enumerate(gens):
            n = int(real[b].sum())
            if n:
                out[b, real[b]] = fn((n, like.shape[-1]), g, like)
        return out

    # ------------------------------------------------------------------ public API
    def view_logits(
        self,
        net: TextClassifier,
        encodings: dict[str, Tensor],
        clean_logits: Tensor,
        seed: int | None = None,
        row_seeds: Sequence[int] | None = None,
    ) -> Tensor:
        """Logits [B, K] of one perturbed view of the tokenized batch ``encodings``.

        ``clean_logits`` [B, K]: the logits of the clean batch (detached here). ``seed``: seeds
        this call's random draws (default: the object's generator); ``row_seeds``: one seed per
        example (used by :meth:`eval_views` for batch-independent draws).
        """
        ids, mask, extra = self._split(encodings)
        layer = net.model.get_input_embeddings()
        with torch.no_grad():
            base = layer(ids)
        m = mask.unsqueeze(-1).to(base.dtype)
        gens = self._generators(ids.shape[0], seed, row_seeds)
        delta = self.delta(net, base, m, extra, clean_logits.detach(), gens).detach() * m
        embeds = layer(ids) + delta  # recomputed: gradients reach the embedding matrix when enabled
        return self.forward_embeds(net, embeds, extra)

    def eval_views(
        self,
        net: TextClassifier,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
        num_views: int = 1,
        seed: int = 0,
        batch_size: int = 64,
    ) -> Tensor:
        """Probabilities [N, M, K] of ``num_views`` perturbed views of each text (eval mode,
        divided by ``net.temperature`` like ``net.predict_proba``), on CPU."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings")
        if num_views < 0:
            raise ValueError(f"num_views must be >= 0, got {num_views}")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
        k = int(getattr(net, "num_labels", 0) or net.model.config.num_labels)
        out = torch.empty(len(texts), num_views, k)
        if not texts or num_views == 0:
            return out
        temperature = float(getattr(net, "temperature", 1.0))
        device = next(net.parameters()).device
        modes = _save_modes(net)
        net.eval()
        try:
            for start in range(0, len(texts), batch_size):
                bt = list(texts[start : start + batch_size])
                bp = list(pairs[start : start + batch_size]) if pairs is not None else None
                enc = {k_: v.to(device) for k_, v in net.tokenize(bt, bp).items()}
                with torch.no_grad():
                    clean = net.model(**enc).logits
                for v in range(num_views):
                    keys = [
                        stable_key(seed, self.name, v, t if bp is None else f"{t}\x1e{bp[i]}")
                        for i, t in enumerate(bt)
                    ]
                    logits = self.view_logits(net, enc, clean, row_seeds=keys)
                    out[start : start + len(bt), v] = (
                        (logits.detach().float() / temperature).softmax(-1).cpu()
                    )
        finally:
            _restore_modes(modes)
        return out

    def scaled(self, factor: float) -> EmbeddingPerturbation:
        """A copy with its budget (sigma / epsilon and step size) multiplied by ``factor``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _save_modes(net: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(mod, mod.training) for mod in net.modules()]


def _restore_modes(modes: list[tuple[nn.Module, bool]]) -> None:
    for mod, training in modes:
        mod.training = training


class EmbeddingGaussian(EmbeddingPerturbation):
    """Gaussian noise ``N(0, sigma^2)`` on each coordinate of the real tokens' word embeddings."""

    name = "emb_gaussian"

    def __init__(self, sigma: float = 0.01, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if not float(sigma) >= 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def delta(self, net, embeds, mask, extra, clean_logits, gens) -> Tensor:
        if self.sigma == 0:
            return torch.zeros_like(embeds)
        return self.sigma * self._per_row(_randn, gens, embeds, mask)

    def scaled(self, factor: float) -> EmbeddingGaussian:
        new = copy.copy(self)
        new.sigma = self.sigma * float(factor)
        return new


class EmbeddingPGD(EmbeddingPerturbation):
    """PGD (FGSM with ``steps=1, step_size=epsilon``) on the word embeddings, maximizing
    ``KL(p(x) || p(x~))`` in an L2 or Linf ball of radius ``epsilon`` (see the module doc).

    ``step_size=None``: ``epsilon`` when ``steps == 1`` (FGSM), else ``2.5 * epsilon / steps``
    (Madry et al.). ``name``: metric-key id, default ``emb_pgd`` (``emb_fgsm`` when ``steps == 1``).
    """

    name = "emb_pgd"

    def __init__(
        self,
        epsilon: float = 1.0,
        steps: int = 3,
        step_size: float | None = None,
        norm: str = "l2",
        random_start: bool = True,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(seed=seed)
        if not float(epsilon) >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        norm = str(norm).lower()
        if norm not in ("l2", "linf"):
            raise ValueError(f"norm must be 'l2' or 'linf', got {norm!r}")
        self.epsilon = float(epsilon)
        self.steps = int(steps)
        if step_size is None:
            step_size = self.epsilon if self.steps == 1 else 2.5 * self.epsilon / self.steps
        if not float(step_size) >= 0:
            raise ValueError(f"step_size must be >= 0, got {step_size}")
        self.step_size = float(step_size)
        self.norm = norm
        self.random_start = bool(random_start)
        if name is not None:
            self.name = str(name)
        elif self.steps == 1:
            self.name = "emb_fgsm"

    # ------------------------------------------------------------------ geometry
    def project(self, delta: Tensor, mask: Tensor) -> Tensor:
        """Project onto the epsilon ball (and zero the padding positions)."""
        delta = delta * mask
        if self.norm == "linf":
            return delta.clamp(-self.epsilon, self.epsilon)
        return delta * (self.epsilon / _row_norm(delta)).clamp(max=1.0)

    def _start(self, embeds: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        if not self.random_start:
            return 1e-3 * self.epsilon * self._per_row(_randn, gens, embeds, mask)
        if self.norm == "linf":
            return self.epsilon * (2 * self._per_row(_rand, gens, embeds, mask) - 1) * mask
        # uniform in the L2 ball of the real coordinates: direction ~ Gaussian, radius ~ U^(1/n)
        direction = self._per_row(_randn, gens, embeds, mask)
        n = (mask.flatten(1).sum(1) * embeds.shape[-1]).clamp_min(1).view(-1, 1, 1)
        u = (
            torch.stack([torch.rand((), generator=g) for g in gens])
            .to(embeds.device, embeds.dtype)
            .view(-1, 1, 1)
        )
        return direction / _row_norm(direction) * self.epsilon * u ** (1.0 / n)

    def _step(self, grad: Tensor, mask: Tensor) -> Tensor:
        grad = grad * mask
        if self.norm == "linf":
            return self.step_size * grad.sign()
        return self.step_size * grad / _row_norm(grad)

    def delta(self, net, embeds, mask, extra, clean_logits, gens) -> Tensor:
        if self.epsilon == 0:
            return torch.zeros_like(embeds)
        modes = _save_modes(net)
        net.eval()
        try:
            # grad mode on even under no_grad / inference_mode (eval loops): the inputs are cloned
            # out of inference mode so autograd may save them
            with torch.inference_mode(False), torch.enable_grad():
                target = F.log_softmax(clean_logits.detach().float(), dim=-1).clone()
                base, mask = embeds.detach().clone(), mask.clone()
                extra = {k: v.clone() for k, v in extra.items()}
                delta = self.project(self._start(base, mask, gens), mask)
                for _ in range(self.steps):
                    delta = delta.detach().requires_grad_(True)
                    logits = self.forward_embeds(net, base + delta, extra)
                    kl = F.kl_div(
                        F.log_softmax(logits.float(), dim=-1), target, reduction="sum", log_target=True
                    )
                    (grad,) = torch.autograd.grad(kl, delta)
                    delta = self.project(delta.detach() + self._step(grad, mask), mask)
        finally:
            _restore_modes(modes)
        return delta.detach()

    def scaled(self, factor: float) -> EmbeddingPGD:
        new = copy.copy(self)
        new.epsilon = self.epsilon * float(factor)
        new.step_size = self.step_size * float(factor)
        return new
