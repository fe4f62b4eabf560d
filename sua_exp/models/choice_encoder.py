"""Encoder adapter for multiple-choice QA: (question, context, K choices) -> logits over the K choices.

`ChoiceClassifier` is a `TextClassifier` whose network is an `AutoModelForMultipleChoice` (one
score per (context, question + choice) sequence, softmax over the K choices), so it has the same
public methods (`tokenize`, `forward`, `logits_for`, `predict_logits`, `predict_proba`,
`sample_proba` with MC dropout, post-hoc `temperature`) and trains and evaluates through the
classification stack unchanged. Its inputs are

* `texts`: the questions (what perturbations change), and
* `text_pairs`: each question's context and choices packed into one string
  (`sua_exp.data.choice_classification.encode_choice_pack`), decoded here.

`num_labels` is K, the same for every input (`ChoiceClassificationDataModule` checks the data).
`match_datamodule` pairs a data config with a model config and refuses mismatches in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import hydra
from torch import Tensor

from sua_exp.data.choice_classification import ChoiceClassificationDataModule, decode_choice_pack
from sua_exp.data.multiple_choice import MultipleChoiceDataModule
from sua_exp.models.encoders import TextClassifier


class ChoiceClassifier(TextClassifier):
    """A multiple-choice encoder (e.g. all-MiniLM-L6-v2 with a multiple-choice head).

    Each question is encoded K times, as the pair (context, question + " " + choice); the head
    scores each pair and the K scores are the logits [B, K]. Truncation (`max_length` tokens per
    pair) cuts the longer segment first. Batch sizes of `predict_proba` / `sample_proba` count
    encoder sequences, i.e. K per question.
    """

    auto_model_class = "AutoModelForMultipleChoice"

    def __init__(
        self,
        num_labels: int,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        max_length: int = 192,
    ) -> None:
        if num_labels < 2:
            raise ValueError(f"a multiple-choice model needs >= 2 choices, got num_labels={num_labels}")
        super().__init__(num_labels, pretrained, config, tokenizer, max_length)

    def tokenize(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Encodings shaped [B, K, L] from questions and their packed (context, choices)."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of questions")
        if text_pairs is None:
            raise ValueError(
                "ChoiceClassifier needs text_pairs: the context and choices of each question "
                "(sua_exp.data.choice_classification.encode_choice_pack)"
            )
        if len(texts) != len(text_pairs):
            raise ValueError(f"{len(texts)} questions but {len(text_pairs)} context/choice packs")
        k = self.num_labels
        firsts: list[str] = []
        seconds: list[str] = []
        for question, pack in zip(texts, text_pairs, strict=True):
            context, choices = decode_choice_pack(pack)
            if len(choices) != k:
                raise ValueError(f"a question has {len(choices)} choices, the model num_labels={k}")
            firsts += [context] * k
            seconds += [f"{question.strip()} {choice}" for choice in choices]
        enc = self.tokenizer(
            firsts,
            seconds,
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {name: value.view(len(texts), k, -1) for name, value in enc.items()}

    def _batched_logits(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, batch_size: int, passes: int
    ) -> Tensor:
        # batch_size counts sequences: K per question
        return super()._batched_logits(texts, text_pairs, max(1, batch_size // self.num_labels), passes)


def _net_class(net_cfg: Any) -> type | None:
    target = net_cfg.get("_target_") if hasattr(net_cfg, "get") else None
    return hydra.utils.get_class(target) if target else None


def match_datamodule(datamodule: Any, net_cfg: Any) -> Any:
    """The datamodule a model config can train on: multiple-choice data is served to a
    `ChoiceClassifier` as K-class classification (`ChoiceClassificationDataModule`); any other
    pairing of multiple-choice data or a choice model is refused with a one-line error."""
    net_cls = _net_class(net_cfg)
    is_choice_model = isinstance(net_cls, type) and issubclass(net_cls, ChoiceClassifier)
    name = getattr(datamodule, "name", type(datamodule).__name__)
    if isinstance(datamodule, MultipleChoiceDataModule):
        if is_choice_model:
            return ChoiceClassificationDataModule(datamodule)
        raise ValueError(
            f"data={name} is multiple-choice QA but model.net ({net_cfg.get('_target_')}) is not a "
            "multiple-choice encoder: use model=minilm_mc (or model=tiny_mc), or an LLM with sua-llm-eval"
        )
    if is_choice_model:
        raise ValueError(
            f"model.net ({net_cfg.get('_target_')}) is a multiple-choice encoder but data={name} is not "
            "multiple-choice QA: use data=bbq or data=social_iqa, or model=minilm (or model=tiny)"
        )
    return datamodule
