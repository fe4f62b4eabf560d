"""Multiple-choice QA served as classification batches, for an encoder with a multiple-choice head.

A question with K choices becomes a `ClassificationExample` whose label is the index of the
correct choice (K classes) and whose two texts are:

* `text`: the question, the part that perturbations change (DESIGN section 1: for QA the question
  is perturbed and the context kept);
* `text_pair`: the context and the K choices, packed into one JSON string
  (`encode_choice_pack`); the model adapter (`sua_exp.models.ChoiceClassifier`) decodes it and
  builds the K (context, question + choice) inputs itself.

So the classification stack runs unchanged on it: the training module perturbs `texts` and keeps
`text_pairs`, and so does the evaluation runner. The multiple-choice examples stay available in
`mc_splits` for the ambiguity metrics of BBQ (`sua_exp.evaluation.multiple_choice`).

The head needs one K for all inputs: data with a varying number of choices is refused (set
`data.num_choices` to keep only the examples with that many).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from sua_exp.data.classification import ClassificationExample, SplitDataModule, collate_examples
from sua_exp.data.multiple_choice import MultipleChoiceDataModule, MultipleChoiceExample
from sua_exp.data.sources import DataError


def encode_choice_pack(context: str, choices: Sequence[str]) -> str:
    """The context and choices of one question as the `text_pair` string of its example."""
    return json.dumps({"context": context, "choices": list(choices)}, ensure_ascii=False)


def decode_choice_pack(pack: str) -> tuple[str, list[str]]:
    """(context, choices) from `encode_choice_pack`'s string."""
    try:
        obj = json.loads(pack)
        context, choices = obj["context"], obj["choices"]
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"not a multiple-choice pack (JSON with 'context' and 'choices'): {str(pack)[:80]!r}"
        ) from err
    if not isinstance(context, str) or not isinstance(choices, list) or len(choices) < 2:
        raise ValueError(f"malformed multiple-choice pack: {str(pack)[:80]!r}")
    return context, [str(c) for c in choices]


def to_classification_example(example: MultipleChoiceExample) -> ClassificationExample:
    """One question -> a K-class example (text = question, text_pair = the packed context/choices).

    `valid_labels` stays None: on BBQ's ambiguous contexts the single correct answer is the
    unknown option, so there is no set of valid answers to train towards.
    """
    return ClassificationExample(
        id=example.id,
        text=example.question,
        label=example.label,
        text_pair=encode_choice_pack(example.context, example.choices),
        meta=example.meta,
    )


def fixed_num_choices(name: str, splits: dict[str, list[MultipleChoiceExample]]) -> int:
    """The number of choices shared by every example, or a DataError naming the dataset."""
    counts = Counter(ex.num_choices for split in splits.values() for ex in split)
    if not counts:
        raise DataError(f"data={name}: no examples")
    if len(counts) > 1:
        (k, _), *_ = counts.most_common(1)
        odd = next(ex for split in splits.values() for ex in split if ex.num_choices != k)
        found = ", ".join(f"{n} choices: {c}" for n, c in sorted(counts.items()))
        raise DataError(
            f"data={name}: a multiple-choice encoder needs the same number of choices in every "
            f"example, found {found} (e.g. id {odd.id}); set data.num_choices={k} to keep only those"
        )
    return next(iter(counts))


class ChoiceClassificationDataModule(SplitDataModule):
    """A `MultipleChoiceDataModule` seen as a K-class classification datamodule.

    Same splits, sample limits, batch sizes and (seed, epoch) shuffle as the source; `splits`
    holds `ClassificationExample`s, `mc_splits` the source's multiple-choice examples (same order).
    """

    collate_fn = staticmethod(collate_examples)

    def __init__(self, source: MultipleChoiceDataModule) -> None:
        super().__init__()
        # the source's plain hyperparameters (a checkpoint stays loadable with weights_only)
        self.save_hyperparameters(dict(source.hparams), logger=False)
        self.source = source
        self.name = source.name
        self.labels: list[str] | None = None
        self.splits: dict[str, list[ClassificationExample]] = {}
        self.mc_splits: dict[str, list[MultipleChoiceExample]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.source.setup(stage)
        k = fixed_num_choices(self.name, self.source.splits)
        self.labels = [f"choice_{i}" for i in range(k)]
        self.mc_splits = dict(self.source.splits)
        self.splits = {s: [to_classification_example(ex) for ex in exs] for s, exs in self.mc_splits.items()}

    @property
    def num_labels(self) -> int:
        """K, the number of choices of every question."""
        self.setup()
        assert self.labels is not None
        return len(self.labels)
