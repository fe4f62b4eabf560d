"""Data sources, tasks and datamodules."""

from sua_exp.data.classification import (
    ClassificationDataModule,
    ClassificationExample,
    collate_examples,
    load_classification_file,
    split_by_id,
)
from sua_exp.data.sources import DataError, default_data_dir, iter_jsonl, project_root, resolve_data_file

__all__ = [
    "ClassificationDataModule",
    "ClassificationExample",
    "DataError",
    "collate_examples",
    "default_data_dir",
    "iter_jsonl",
    "load_classification_file",
    "project_root",
    "resolve_data_file",
    "split_by_id",
]
