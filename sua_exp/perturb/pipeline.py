"""Composition of perturbations: sequential :class:`Pipeline` and per-view :class:`Mixture`.

Both are :class:`~sua_exp.perturb.base.Perturbation` s (same ``__call__``/``neighbourhood`` API) and
draw all their randomness from the per-text generator, so they are as deterministic as their
steps. Steps may be given as a list or as a mapping ``{key: perturbation}`` (what Hydra builds
from a config like ``conf/perturbation/default.yaml``; keys are only labels, order is kept).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from sua_exp.perturb.base import Perturbation

__all__ = ["Mixture", "Pipeline"]


def _as_steps(steps) -> list[Perturbation]:
    if isinstance(steps, Mapping):
        steps = list(steps.values())
    steps = list(steps)
    if not steps:
        raise ValueError("at least one step is required")
    for s in steps:
        if not isinstance(s, Perturbation):
            raise TypeError(f"steps must be Perturbation instances, got {type(s).__name__}")
    return steps


def _child_rng(rng: random.Random) -> random.Random:
    return random.Random(rng.getrandbits(64))


class _Composite(Perturbation):
    def __init__(
        self,
        steps,
        strength: float = 1.0,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        super().__init__(rate=min(1.0, max(0.0, float(strength))), seed=seed, protected_words=protected_words)
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        self.base_steps = _as_steps(steps)
        self._strength = float(strength)
        self._custom_name = name
        self._rebuild()

    def _rebuild(self) -> None:
        steps = [s.scaled(self._strength) if self._strength != 1.0 else s for s in self.base_steps]
        if self.protected_words:
            steps = [s.with_protected(self.protected_words) for s in steps]
        self.steps: list[Perturbation] = steps
        self.name = self._custom_name or self._auto_name()

    def _auto_name(self) -> str:
        raise NotImplementedError

    @property
    def strength(self) -> float:
        """Multiplier applied to every step's rate (settable, e.g. for a curriculum)."""
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"strength must be >= 0, got {value}")
        self._strength = float(value)
        self.rate = min(1.0, self._strength)
        self._rebuild()

    def scaled(self, factor: float) -> Perturbation:
        if factor < 0:
            raise ValueError(f"factor must be >= 0, got {factor}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._strength = self._strength * float(factor)
        new.rate = min(1.0, new._strength)
        new._rebuild()
        return new

    def with_protected(self, words) -> Perturbation:
        new = super().with_protected(words)
        new._rebuild()
        return new

    def count_eligible(self, text: str) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no single eligibility count")


class Pipeline(_Composite):
    """Apply ``steps`` in order, step ``k`` with probability ``probs[k]`` (default 1.0).

    For each text, the per-text generator decides which steps fire and seeds one child generator
    per step, so the result depends only on (seed, name, view, text). ``strength`` multiplies
    every step's rate (capped at 1). With ``ensure_one=True`` one step, chosen uniformly, is
    applied when no step fired, so no view is left unperturbed by chance. The name is the step
    names joined by ``+`` (``keyboard_typo+word_deletion``) unless ``name`` is given.
    ``protected_words`` are added to every step's own.
    """

    def __init__(
        self,
        steps: Sequence[Perturbation] | Mapping[str, Perturbation],
        probs: Sequence[float] | None = None,
        strength: float = 1.0,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        ensure_one: bool = False,
        name: str | None = None,
    ) -> None:
        n = len(steps)
        if probs is None:
            probs = [1.0] * n
        probs = [float(p) for p in probs]
        if len(probs) != n:
            raise ValueError(f"probs has {len(probs)} entries for {n} steps")
        if any(not 0.0 <= p <= 1.0 for p in probs):
            raise ValueError(f"probs must lie in [0, 1], got {probs}")
        self.probs = probs
        self.ensure_one = bool(ensure_one)
        super().__init__(steps, strength=strength, seed=seed, protected_words=protected_words, name=name)

    def _auto_name(self) -> str:
        return "+".join(s.name for s in self.steps)

    def perturb_view(self, text: str, rng: random.Random, view: int) -> str:
        fired = [rng.random() < p for p in self.probs]
        children = [_child_rng(rng) for _ in self.steps]
        if self.ensure_one and not any(fired):
            fired[rng.randrange(len(self.steps))] = True
        for step, on, child in zip(self.steps, fired, children, strict=True):
            if on:
                text = step.perturb_view(text, child, view)
        return text

    def perturb_one(self, text: str, rng: random.Random) -> str:
        return self.perturb_view(text, rng, 0)

    def __repr__(self) -> str:
        return (
            f"Pipeline(name={self.name!r}, probs={self.probs}, strength={self.strength}, steps={self.steps})"
        )


class Mixture(_Composite):
    """One step per view: the neighbourhood mixes perturbation types.

    ``mode="cycle"`` (default): view ``m`` uses ``steps[m % K]``, so the types alternate and are
    balanced exactly over a neighbourhood (the project default: view 0 keyboard typo, view 1 word
    deletion, view 2 keyboard typo ...). ``mode="random"``: each (text, view) draws a step from
    the per-text generator with probabilities ``weights`` (default uniform). Inside a
    :class:`Pipeline` the view is passed through; :meth:`perturb_one` (no view) draws at random.
    The name is ``mix-`` + the step names joined by ``-`` unless ``name`` is given.
    """

    def __init__(
        self,
        steps: Sequence[Perturbation] | Mapping[str, Perturbation],
        weights: Sequence[float] | None = None,
        mode: str = "cycle",
        strength: float = 1.0,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        if mode not in ("cycle", "random"):
            raise ValueError(f"mode must be 'cycle' or 'random', got {mode!r}")
        n = len(steps)
        weights = [1.0] * n if weights is None else [float(w) for w in weights]
        if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be {n} non-negative numbers with a positive sum, got {weights}")
        self.mode = mode
        self.weights = weights
        super().__init__(steps, strength=strength, seed=seed, protected_words=protected_words, name=name)

    def _auto_name(self) -> str:
        return "mix-" + "-".join(s.name for s in self.steps)

    def step_for_view(self, view: int) -> Perturbation | None:
        """The step used for ``view`` in cycle mode (None in random mode)."""
        return self.steps[view % len(self.steps)] if self.mode == "cycle" else None

    def perturb_view(self, text: str, rng: random.Random, view: int) -> str:
        if self.mode == "cycle":
            step = self.steps[view % len(self.steps)]
        else:
            step = rng.choices(self.steps, weights=self.weights)[0]
        return step.perturb_view(text, _child_rng(rng), view)

    def perturb_one(self, text: str, rng: random.Random) -> str:
        step = rng.choices(self.steps, weights=self.weights)[0]
        return step.perturb_one(text, _child_rng(rng))

    def __repr__(self) -> str:
        return (
            f"Mixture(name={self.name!r}, mode={self.mode!r}, strength={self.strength}, steps={self.steps})"
        )
