"""Classification examples and the Lightning datamodule that serves them as raw-text batches.

Batches carry text, not token ids: the model adapter tokenizes, so the same batch can be
perturbed (text-level views) before it reaches the network.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, Sampler

from sua_exp.data.sources import DataError, iter_jsonl, resolve_data_file

MAX_CHARS = 20_000  # texts are clipped here: tokenizers truncate anyway, and 100k-char inputs must not stall


@dataclass(frozen=True)
class ClassificationExample:
    id: str
    text: str
    label: int
    text_pair: str | None = None
    valid_labels: tuple[int, ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def _unit_hash(key: str) -> float:
    """A stable number in [0, 1) from a string (not Python's salted hash)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _clean_text(value: Any, where: str, field_name: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{field_name}' must be a string, got {type(value).__name__}")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in value[:MAX_CHARS])
    return text


def load_classification_file(
    path: str | os.PathLike,
    labels: Sequence[str] | None,
    text_field: str = "text",
    pair_field: str | None = None,
    meta_filter: Mapping[str, Any] | None = None,
) -> tuple[list[ClassificationExample], list[str]]:
    """Read one JSONL file in the classification schema.

    With `labels` given, a label outside the set is an error naming the file and line; without,
    the label set is the sorted set of labels found. Rows whose `meta` does not match
    `meta_filter` (key -> value or list of values) are skipped.
    """
    raw: list[tuple[str, dict]] = []
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        for key in ("id", text_field, "label") + ((pair_field,) if pair_field else ()):
            if key not in obj:
                raise DataError(f"{where}: missing field '{key}'")
        if meta_filter and not _meta_matches(obj.get("meta") or {}, meta_filter):
            continue
        raw.append((where, obj))
    if not raw:
        raise DataError(f"{path}: no examples (after meta_filter={dict(meta_filter or {})})")
    label_list = list(labels) if labels is not None else sorted({str(o["label"]) for _, o in raw})
    index = {name: i for i, name in enumerate(label_list)}
    examples = []
    for where, obj in raw:
        label = str(obj["label"])
        if label not in index:
            raise DataError(f"{where}: label '{label}' is not in the label set {label_list}")
        valid = obj.get("valid_labels")
        if valid is not None:
            bad = [v for v in valid if str(v) not in index]
            if bad:
                raise DataError(f"{where}: valid_labels {bad} are not in the label set {label_list}")
            valid = tuple(index[str(v)] for v in valid)
        examples.append(
            ClassificationExample(
                id=str(obj["id"]),
                text=_clean_text(obj[text_field], where, text_field),
                text_pair=_clean_text(obj[pair_field], where, pair_field) if pair_field else None,
                label=index[label],
                valid_labels=valid,
                meta=obj.get("meta") or {},
            )
        )
    return examples, label_list


def _meta_matches(meta: Mapping[str, Any], meta_filter: Mapping[str, Any]) -> bool:
    for key, allowed in meta_filter.items():
        scalar = allowed is None or isinstance(allowed, str | int | float | bool)
        allowed_set = {allowed} if scalar else set(allowed)
        if meta.get(key) not in allowed_set:
            return False
    return True


def split_by_id(
    examples: Sequence[ClassificationExample],
    fractions: Mapping[str, float],
    seed: int = 0,
    key: Callable[[Any], str] | None = None,
) -> dict[str, list[ClassificationExample]]:
    """Deterministic split by a hash of each id: the same example always lands in the same split,
    whatever the file order or the other rows. `key` hashes something else instead (e.g. the
    article title, so that questions on one paragraph never straddle train and test)."""
    total = sum(fractions.values())
    bounds, acc = [], 0.0
    for name, frac in fractions.items():
        acc += frac / total
        bounds.append((acc, name))
    out: dict[str, list[ClassificationExample]] = {name: [] for name in fractions}
    for ex in examples:
        u = _unit_hash(f"split:{seed}:{ex.id if key is None else key(ex)}")
        # the last split also takes u >= its bound, which float rounding can leave
        name = next((n for bound, n in bounds if u < bound), bounds[-1][1])
        out[name].append(ex)
    return out


def subsample(
    examples: list[ClassificationExample], limit: int | None, seed: int = 0
) -> list[ClassificationExample]:
    """The same `limit` examples for a given seed, kept in file order."""
    if limit is None or limit >= len(examples):
        return examples
    chosen = sorted(examples, key=lambda ex: _unit_hash(f"sub:{seed}:{ex.id}"))[:limit]
    keep = {id(ex) for ex in chosen}
    return [ex for ex in examples if id(ex) in keep]


def _plain(value: Any) -> Any:
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


class EpochShuffleSampler(Sampler[int]):
    """A shuffle that is a function of (seed, epoch) only.

    Lightning calls `set_epoch` before each training epoch, so the order of epoch e does not
    depend on RNG use before it: a resumed run sees exactly the batches of an uninterrupted one.
    """

    def __init__(self, num_examples: int, seed: int = 0) -> None:
        self.num_examples = num_examples
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        gen = torch.Generator().manual_seed(int(_unit_hash(f"shuffle:{self.seed}:{self.epoch}") * 2**62))
        return iter(torch.randperm(self.num_examples, generator=gen).tolist())

    def __len__(self) -> int:
        return self.num_examples


class ExampleDataset(Dataset):
    def __init__(self, examples: Sequence[ClassificationExample]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, idx: int) -> ClassificationExample:
        return self.examples[idx]


def text_pairs_of(examples: Sequence[ClassificationExample]) -> list[str] | None:
    """The second texts of a batch of pair examples (claim/evidence), or None for single texts."""
    return [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None


def collate_examples(batch: Sequence[ClassificationExample]) -> dict[str, Any]:
    """Raw-text batch: the model adapter tokenizes (possibly after perturbing the texts)."""
    return {
        "ids": [ex.id for ex in batch],
        "texts": [ex.text for ex in batch],
        "text_pairs": text_pairs_of(batch),
        "labels": torch.tensor([ex.label for ex in batch], dtype=torch.long),
        "valid_labels": [ex.valid_labels for ex in batch],
    }


class SplitDataModule(L.LightningDataModule):
    """What every JSONL datamodule shares: train/val/test from files or from a deterministic split
    by id, sample limits, and loaders whose shuffle replays exactly after a resume.

    Subclasses implement `load_files(files) -> {split: examples}` and set `collate_fn`.
    """

    collate_fn = staticmethod(collate_examples)
    # what the deterministic split hashes (None: the example id)
    split_key: Callable[[Any], str] | None = None

    def load_files(self, files: Mapping[str, str]) -> dict[str, list]:
        raise NotImplementedError

    def prepare_splits(self, loaded: dict[str, list]) -> dict[str, list]:
        """Hook between the split and the sample limits (e.g. to join a natural-perturbation set
        onto the test split); identity by default."""
        return loaded

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        hp = self.hparams
        files = {"train": hp.train_file, "val": hp.val_file, "test": hp.test_file}
        loaded = self.load_files({name: file for name, file in files.items() if file is not None})
        missing = [s for s in ("val", "test") if s not in loaded]
        if missing:
            if not hp.split:
                raise DataError(f"data.split must give fractions for {missing}: only train_file was set")
            parts = split_by_id(loaded["train"], dict(hp.split), seed=hp.split_seed, key=self.split_key)
            for name in missing:
                if name not in parts:
                    raise DataError(f"data.split has no fraction for '{name}'")
                loaded[name] = parts[name]
            loaded["train"] = parts.get("train", [])  # no train fraction: evaluation-only data
        loaded = self.prepare_splits(loaded)
        limits = {"train": hp.max_train_samples, "val": hp.max_val_samples, "test": hp.max_test_samples}
        self.splits = {
            s: subsample(loaded[s], limits[s], seed=hp.split_seed) for s in ("train", "val", "test")
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        bs = self.hparams.batch_size if split == "train" else self.hparams.eval_batch_size
        data = ExampleDataset(self.splits[split])
        sampler = None
        if shuffle:
            sampler = EpochShuffleSampler(len(data), self.hparams.shuffle_seed)
            # Lightning prefetches the first batch before it calls set_epoch; a resumed run starts
            # at a later epoch, so the sampler must already know it here.
            trainer = getattr(self, "trainer", None)
            sampler.set_epoch(trainer.current_epoch if trainer is not None else 0)
        return DataLoader(
            data,
            batch_size=bs,
            sampler=sampler,
            num_workers=self.hparams.num_workers,
            collate_fn=self.collate_fn,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class ClassificationDataModule(SplitDataModule):
    """Text classification from JSONL files in the schema of the shared data README.

    Either give `train_file`, `val_file` and `test_file`, or only `train_file` and a `split`
    (fractions per split): the split is then a deterministic function of each example's id.
    Relative paths are looked up under `data_dir`.
    """

    def __init__(
        self,
        train_file: str,
        val_file: str | None = None,
        test_file: str | None = None,
        data_dir: str | None = None,
        labels: Sequence[str] | None = None,
        text_field: str = "text",
        pair_field: str | None = None,
        meta_filter: Mapping[str, Any] | None = None,
        split: Mapping[str, float] | None = None,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        # Hydra passes ListConfig/DictConfig; plain containers keep checkpoints weights_only-loadable.
        labels, meta_filter, split = _plain(labels), _plain(meta_filter), _plain(split)
        self.save_hyperparameters(logger=False)
        self.name = name or os.path.splitext(os.path.basename(train_file))[0]
        self.splits: dict[str, list[ClassificationExample]] = {}
        self.labels: list[str] | None = list(labels) if labels is not None else None

    @property
    def num_labels(self) -> int:
        if self.labels is None:
            self.setup()
        assert self.labels is not None
        return len(self.labels)

    def load_files(self, files: Mapping[str, str]) -> dict[str, list[ClassificationExample]]:
        hp = self.hparams
        loaded: dict[str, list[ClassificationExample]] = {}
        labels = self.labels
        for split_name, file in files.items():
            path = resolve_data_file(file, hp.data_dir)
            loaded[split_name], found = load_classification_file(
                path, labels, hp.text_field, hp.pair_field, hp.meta_filter
            )
            labels = labels or found  # later files are checked against the first file's labels
        self.labels = labels
        return loaded
