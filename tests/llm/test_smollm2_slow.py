"""Real-model runs with SmolLM2-135M-Instruct (slow: `pytest -m slow tests/llm`)."""

from __future__ import annotations

import json
import time

import pytest
import torch

from sua_exp.data.classification import subsample
from sua_exp.data.multiple_choice import format_prompt, load_multiple_choice_file
from sua_exp.evaluation.multiple_choice import AmbiguityLabels, ambiguity_metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(require_smollm2):
    from sua_exp.models.causal_lm import OptionScorer

    return OptionScorer(pretrained="smollm2", device="cpu", batch_size=8)


def test_conversion_is_cached_plain_hf_folder(require_smollm2):
    from sua_exp.models.gguf_convert import ensure_hf_model, is_converted

    path = ensure_hf_model("smollm2")  # converts on first use (~20-50 s), else reuses the cache
    assert is_converted(path) and (path / "model.safetensors").is_file()
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.tmp")]
    t = time.perf_counter()
    assert ensure_hf_model("smollm2") == path and time.perf_counter() - t < 1.0


def test_weights_are_sane(smollm2):
    p = smollm2.predict_proba(["What is the capital of France?"], [["Paris", "London", "Berlin", "Madrid"]])
    assert p.argmax().item() == 0 and p[0, 0] > 0.5


def test_bbq_ambiguous_vs_disambiguated(smollm2, data_dir):
    rows = {}
    for condition in ("disambig", "ambig"):
        data = load_multiple_choice_file(
            data_dir / "qa_mc" / "bbq.jsonl", meta_filter={"context_condition": condition}
        )
        rows[condition] = subsample(data, 30, seed=0)
    examples = rows["disambig"] + rows["ambig"]
    t = time.perf_counter()
    probs = smollm2.predict_proba(
        [format_prompt(ex) for ex in examples], [list(ex.choices) for ex in examples]
    )
    seconds = time.perf_counter() - t
    labels = torch.tensor([ex.label for ex in examples])
    k = torch.tensor([ex.num_choices for ex in examples])
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(examples)))
    m = ambiguity_metrics(probs, labels, k, AmbiguityLabels.from_examples(examples), tau_c=0.9)
    m["task/acc/all"] = (probs.argmax(-1) == labels).double().mean().item()
    print(f"\nSmolLM2 BBQ (30 disambig + 30 ambig, {seconds:.1f}s): " + json.dumps(m, sort_keys=True))
    assert m["amb/num_examples"] == 30
    for key in ("task/acc/ambig", "task/acc/disambig", "amb/collapse_rate", "amb/mass_on_unknown"):
        assert 0.0 <= m[key] <= 1.0
    assert m["amb/entropy_gap"] <= torch.log(torch.tensor(2.0)).item() + 1e-6
