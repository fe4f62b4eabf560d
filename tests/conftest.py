"""Shared fixtures: the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import real_data_dir

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("no data folder: set SUA_DATA_DIR (e.g. ../shared/data) to run data-backed tests")
    return path
