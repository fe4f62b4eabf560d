"""Fixtures for the perturbation tests: the real data folder, 200 headlines, every perturbation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sua_exp.perturb import (
    CaseChange,
    CharDelete,
    CharInsert,
    CharSwap,
    Disfluency,
    Distractor,
    KeyboardTypo,
    LocalShuffle,
    Misspelling,
    Mixture,
    OCRNoise,
    Perturbation,
    Pipeline,
    SynonymSwap,
    WordDeletion,
    WordRepetition,
)

SARCASM = "classification/sarcasm_headlines.jsonl"


def find_data_dir() -> Path | None:
    """$SUA_DATA_DIR, else /work/shared/data, else <repo>/data; None when none has the files."""
    env = os.environ.get("SUA_DATA_DIR")
    candidates = [Path(env)] if env else [Path("/work/shared/data"), Path(__file__).parents[2] / "data"]
    for c in candidates:
        if (c / SARCASM).is_file() and (c / "lexicon").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def pdata() -> Path:
    path = find_data_dir()
    if path is None:
        pytest.skip(
            "no data folder with classification/sarcasm_headlines.jsonl and lexicon/: "
            "set SUA_DATA_DIR (default /work/shared/data)"
        )
    return path


@pytest.fixture(scope="session")
def wn_cache(tmp_path_factory) -> str:
    """A private cache dir for the WordNet copy, so tests never depend on ~/.cache state."""
    return str(tmp_path_factory.mktemp("sua_cache"))


@pytest.fixture(scope="session")
def sentences(pdata: Path) -> list[str]:
    """The first 200 headlines of the sarcasm data set."""
    out = []
    with open(pdata / SARCASM, encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if len(out) == 200:
                break
    return out


def _builders(data: Path, cache: str) -> dict[str, Callable[..., Perturbation]]:
    lex = data / "lexicon"
    return {
        "keyboard_typo": lambda **kw: KeyboardTypo(keyboard_file=str(lex / "keyboard_en.json"), **kw),
        "char_insert": lambda **kw: CharInsert(**kw),
        "char_delete": lambda **kw: CharDelete(**kw),
        "char_swap": lambda **kw: CharSwap(**kw),
        "ocr": lambda **kw: OCRNoise(**kw),
        "case": lambda **kw: CaseChange(**kw),
        "synonym": lambda **kw: SynonymSwap(wordnet_dir=str(lex / "wordnet"), cache_dir=cache, **kw),
        "word_deletion": lambda **kw: WordDeletion(**kw),
        "word_repetition": lambda **kw: WordRepetition(**kw),
        "local_shuffle": lambda **kw: LocalShuffle(**kw),
        "misspelling": lambda **kw: Misspelling(spelling_file=str(lex / "spelling_en.txt"), **kw),
        "disfluency": lambda **kw: Disfluency(**kw),
        "distractor": lambda **kw: Distractor(**kw),
        "pipeline": lambda **kw: Pipeline(
            [KeyboardTypo(**kw), WordDeletion(**kw)], probs=[1.0, 0.5], seed=kw.get("seed", 0)
        ),
        "mixture": lambda **kw: Mixture(
            [CharSwap(**kw), Misspelling(spelling_file=str(lex / "spelling_en.txt"), **kw)],
            seed=kw.get("seed", 0),
        ),
    }


ALL_NAMES = [
    "keyboard_typo",
    "char_insert",
    "char_delete",
    "char_swap",
    "ocr",
    "case",
    "synonym",
    "word_deletion",
    "word_repetition",
    "local_shuffle",
    "misspelling",
    "disfluency",
    "distractor",
    "pipeline",
    "mixture",
]


@pytest.fixture(scope="session")
def build(pdata: Path, wn_cache: str) -> Callable[..., Perturbation]:
    """``build(name, rate=..., seed=..., protected_words=...)`` for every name in ALL_NAMES."""
    builders = _builders(pdata, wn_cache)

    def make(name: str, **kw) -> Perturbation:
        return builders[name](**kw)

    return make


def pytest_generate_tests(metafunc):
    """Tests with a ``pname`` argument run once per perturbation in ALL_NAMES."""
    if "pname" in metafunc.fixturenames:
        metafunc.parametrize("pname", ALL_NAMES)
