"""Fixtures for the extractive-QA tests: real SQuAD v1.1 dev rows and a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import ROOT, real_data_dir

from sua_exp.data.extractive_qa import load_extractive_qa_file

SQUAD = "qa_extractive/squad_v1_dev.jsonl"

TINY_BERT = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


@pytest.fixture(scope="session")
def qa_data_dir() -> Path:
    """SUA_DATA_DIR (or data/), else the shared folder next to the checkout."""
    for path in (real_data_dir(), ROOT.parent / "shared" / "data"):
        if path is not None and (path / SQUAD).is_file():
            return path
    pytest.skip("no SQuAD file: set SUA_DATA_DIR (e.g. ../shared/data) to run the QA data tests")


@pytest.fixture(scope="session")
def squad_file(qa_data_dir: Path) -> Path:
    return qa_data_dir / SQUAD


@pytest.fixture(scope="session")
def squad_rows(squad_file: Path):
    """The first 40 real SQuAD dev rows (file order), checked by the loader."""
    return load_extractive_qa_file(squad_file, limit=40)


@pytest.fixture(scope="session")
def make_tiny_qa():
    """Build a seeded tiny random BERT span model (MiniLM's tokenizer) with a given max_length."""
    from sua_exp.models.span_qa import SpanQA

    def make(max_length: int = 384, seed: int = 0) -> SpanQA:
        torch.manual_seed(seed)
        return SpanQA(config=TINY_BERT, tokenizer="all-MiniLM-L6-v2", max_length=max_length)

    return make


@pytest.fixture(scope="module")
def tiny_qa(make_tiny_qa):
    return make_tiny_qa()
