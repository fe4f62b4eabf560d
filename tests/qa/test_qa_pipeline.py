"""Extractive QA end to end on a tiny random BERT and real SQuAD / Disfl-QA rows: the aligned
span distributions the objectives see, the Lightning module, the evaluation (batched ==
per input, gold always in the answer set, EM/F1 from the rows) and `sua-train` / `sua-eval`."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import compose_config

from sua_exp.data.extractive_qa import ExtractiveQADataModule, attach_natural_questions
from sua_exp.evaluation.extractive_qa import evaluate_extractive_qa, recompute_qa_metrics
from sua_exp.evaluation.squad import exact_match, f1, normalize_answer
from sua_exp.models.span_qa import PAD_LOGIT
from sua_exp.perturb import WordDeletion
from sua_exp.scores import ScoreSuite


def test_aligned_positions_point_at_the_gold_answer(tiny_qa, squad_rows):
    rows = squad_rows[:12]
    spans = tiny_qa.aligned_logits(
        [r.question for r in rows], [r.context for r in rows], [r.answers[0] for r in rows]
    )
    checked = 0
    for r, row in enumerate(rows):
        s, e = int(spans.start_positions[r]), int(spans.end_positions[r])
        if s == 0:  # truncated away
            continue
        first, last = int(spans.token_index[r, s]), int(spans.token_index[r, e])
        text = row.context[int(spans.offsets[r, first, 0]) : int(spans.offsets[r, last, 1])]
        # whole word pieces: "gold" inside the single token "golden" comes back as "golden"
        assert normalize_answer(row.answers[0][0]) in normalize_answer(text)
        checked += 1
    assert checked >= 10


def test_alignment_is_the_same_context_token_for_every_question(make_tiny_qa, squad_rows):
    row = squad_rows[0]
    questions = [row.question, "uh " * 20 + row.question]  # a much longer question, same context
    spans = make_tiny_qa(max_length=96).aligned_logits(questions, [row.context] * 2)
    n = int(spans.valid[1].sum())  # the longer question leaves fewer context tokens
    assert n < int(spans.valid[0].sum())
    char_spans = [
        [tuple(spans.offsets[r, int(spans.token_index[r, j])].tolist()) for j in range(1, n)] for r in (0, 1)
    ]
    assert char_spans[0] == char_spans[1]
    assert (spans.start[1, n:] == PAD_LOGIT).all()  # truncated positions carry no mass


def test_best_spans_match_the_span_matrix_decoder(tiny_qa, squad_rows):
    rows = squad_rows[:6]
    qs, cs = [r.question for r in rows], [r.context for r in rows]
    with torch.no_grad():
        tiny_qa.eval()
        aligned = tiny_qa.aligned_logits(qs, cs).best_spans(cs, max_answer_len=12)
        tiny_qa.train()
    assert aligned == tiny_qa.predict(qs, cs, max_answer_len=12)


def test_batched_distributions_equal_one_input_at_a_time(tiny_qa, squad_rows):
    rows = squad_rows[:4]
    sets = [[r.question, r.question.lower(), "what ?"] for r in rows]
    batched = tiny_qa.span_distributions(sets, [r.context for r in rows], top_k=5)
    for qs, row, (answers, probs) in zip(sets, rows, batched, strict=True):
        one_answers, one_probs = tiny_qa.span_distribution(qs, row.context, top_k=5)
        assert answers == one_answers
        torch.testing.assert_close(probs, one_probs, atol=1e-5, rtol=1e-4)


def test_span_module_trains_with_sua_tr_views(make_tiny_qa, squad_rows):
    from sua_exp.models.span_qa_module import SpanQAModule
    from sua_exp.objectives import SUATR

    rows = squad_rows[:6]
    net = make_tiny_qa(max_length=128)
    loss = SUATR(lambda_c=1.0, lambda_e=1.0, num_views=2)
    module = SpanQAModule(
        net,
        loss,
        optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
        train_perturbation=WordDeletion(rate=0.3),
    )
    batch = {
        "questions": [r.question for r in rows],
        "contexts": [r.context for r in rows],
        "answers": [r.answers[0] for r in rows],
    }
    optimizer = module.configure_optimizers()["optimizer"]
    module.log = lambda *a, **k: None  # no trainer attached
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        value = module.training_step(batch, 0)
        value.backward()
        optimizer.step()
        losses.append(float(value))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.6 * losses[0]  # starts memorising 6 answers


@pytest.fixture(scope="module")
def squad_dm(qa_data_dir):
    dm = ExtractiveQADataModule(
        train_file="qa_extractive/squad_v1_dev.jsonl",
        natural_file="qa_extractive/disfl_qa.jsonl",
        data_dir=str(qa_data_dir),
        split={"train": 0.8, "val": 0.1, "test": 0.1},
        max_val_samples=6,
        max_test_samples=10,
    )
    dm.setup()
    return dm


def test_title_split_and_natural_pairs(squad_dm):
    titles = {name: {ex.title for ex in exs} for name, exs in squad_dm.splits.items()}
    assert not titles["train"] & titles["test"] and not titles["val"] & titles["test"]
    for ex in squad_dm.splits["test"]:
        assert ex.natural_question and ex.natural_question != ex.question
        assert ex.context[ex.answers[0][1] :].startswith(ex.answers[0][0])


def test_attach_natural_questions_joins_on_source_id(squad_rows):
    original = squad_rows[0]
    rewrite = original.__class__(
        id="d1", question="uh which no what team", context="ctx A", answers=(("A", 4),), source_id=original.id
    )
    orphan = original.__class__(id="d2", question="q", context="ctx", answers=(("c", 0),), source_id="nope")
    (pair,) = attach_natural_questions([original], [rewrite, orphan])
    assert (pair.question, pair.natural_question, pair.context) == (
        original.question,
        rewrite.question,
        "ctx A",
    )


def test_evaluation_on_natural_pairs(tiny_qa, squad_dm, tmp_path):
    suite = ScoreSuite(num_views=2, alpha=0.5, mc_samples=3)
    examples = squad_dm.splits["test"]
    metrics, rows = evaluate_extractive_qa(
        tiny_qa, examples, WordDeletion(rate=0.2), suite, seed=1, rows_path=tmp_path / "rows.jsonl"
    )
    assert len(rows) == len(examples) == metrics["eval/num_examples"]
    for row, ex in zip(rows, examples, strict=True):
        probs = torch.tensor(row["clean"]["probs"])
        k = row["num_choices"]
        torch.testing.assert_close(probs.sum(), torch.tensor(1.0))
        assert (probs[k:] == 0).all()
        # the label is a gold answer group, and correctness is exact match of the top answer
        assert normalize_answer(row["answers"][row["label"]]) in {
            normalize_answer(g) for g in ex.answer_texts
        }
        assert row["clean"]["correct"] == bool(exact_match(row["clean"]["answer"], ex.answer_texts))
    em = sum(exact_match(r["clean"]["answer"], r["gold"]) for r in rows) / len(rows)
    f1_mean = sum(f1(r["clean"]["answer"], r["gold"]) for r in rows) / len(rows)
    assert metrics["task/em/clean"] == pytest.approx(em)
    assert metrics["task/f1/clean"] == pytest.approx(f1_mean)
    assert metrics["task/acc/clean"] == pytest.approx(em)
    for key in (
        "task/f1/natural",
        "sua/natural_sensitivity",
        "fd/auroc/entropy/natural",
        "task/f1/perturbed",
    ):
        assert key in metrics
    assert 0.0 <= metrics["sua/natural_sensitivity"] <= 1.0
    assert "fd/auroc/self_consistency" in metrics and "fd/auroc/self_consistency/natural" in metrics
    assert (tmp_path / "rows.jsonl").read_text().count("\n") == len(rows)
    # sua-eval recompute_from: the same metrics from the saved rows, no model (natural excepted)
    again = recompute_qa_metrics(tmp_path / "rows.jsonl", suite)
    shared = [k for k in metrics if "natural" not in k]
    assert set(shared) <= set(again)
    for key in shared:
        assert again[key] == pytest.approx(metrics[key], abs=1e-6, nan_ok=True), key


def test_evaluation_is_reproducible(tiny_qa, squad_rows):
    suite = ScoreSuite(num_views=2, alpha=1.0)
    a, _ = evaluate_extractive_qa(tiny_qa, squad_rows[:5], WordDeletion(rate=0.3), suite, seed=4)
    b, _ = evaluate_extractive_qa(tiny_qa, squad_rows[:5], WordDeletion(rate=0.3), suite, seed=4)
    assert a.keys() == b.keys()
    for key, value in a.items():  # nan == nan here (metrics undefined on one class)
        assert value == b[key] or (value != value and b[key] != b[key]), key


def test_sua_train_then_sua_eval_on_disfl_and_squadshifts(tmp_path, qa_data_dir):
    from sua_exp.evaluate import evaluate
    from sua_exp.train import train

    limits = ["data.max_train_samples=48", "data.max_val_samples=8", "data.max_test_samples=6"]
    common = [f"paths.data_dir={qa_data_dir}", "model=tiny_qa", "logger=csv", "score.num_views=2", *limits]
    run = tmp_path / "train"
    cfg = compose_config(
        "train", ["data=squad", "loss=sua_tr", "trainer.max_epochs=1", *common], output_dir=run
    )
    metrics = train(cfg)
    for key in (
        "test/f1",
        "task/f1/clean",
        "task/em/perturbed",
        "fd/auroc/u_sua",
        "cal/ece/clean",
        "val/acc_best",
    ):
        assert key in metrics, key
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["task/f1/clean"] == pytest.approx(metrics["task/f1/clean"])
    ckpt = run / "checkpoints" / "last.ckpt"
    for data, key in (("disfl_qa", "sua/natural_sensitivity"), ("squadshifts_new_wiki", "task/f1/clean")):
        out = tmp_path / data
        cfg = compose_config("eval", [f"data={data}", f"ckpt_path={ckpt}", *common], output_dir=out)
        assert key in evaluate(cfg)
        assert (out / "per_example.jsonl").is_file()


def test_classification_model_on_qa_data_is_refused(tmp_path, qa_data_dir):
    from sua_exp.train import build

    cfg = compose_config(
        "train", ["data=squad", "model=tiny", f"paths.data_dir={qa_data_dir}"], output_dir=tmp_path
    )
    with pytest.raises(ValueError, match="model=minilm_qa"):
        build(cfg)
