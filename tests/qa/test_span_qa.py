"""SpanQA on a tiny random BERT and real SQuAD rows: spans, the shared-answer-set distribution,
char -> token alignment and a training loss that goes down."""

from __future__ import annotations

import math

import pytest
import torch

from sua_exp.core.sensitivity import sensitivity
from sua_exp.evaluation.squad import normalize_answer
from sua_exp.models.span_qa import SpanQA


def test_needs_exactly_one_of_pretrained_or_config():
    with pytest.raises(ValueError, match="exactly one"):
        SpanQA(tokenizer="all-MiniLM-L6-v2")


def test_candidate_spans_are_context_substrings(tiny_qa, squad_rows):
    rows = squad_rows[:3]
    cands = tiny_qa.candidate_spans(
        [r.question for r in rows], [r.context for r in rows], top_k=5, max_answer_len=8
    )
    assert len(cands) == 3
    for row, spans in zip(rows, cands, strict=True):
        assert len(spans) == 5
        scores = [s for _, s in spans]
        assert scores == sorted(scores, reverse=True)
        for text, _ in spans:
            assert text and text in row.context
            assert len(tiny_qa.tokenizer.tokenize(text)) <= 8
    assert tiny_qa.training  # inference switched dropout off only temporarily


def test_span_distribution_shares_one_answer_set(tiny_qa, squad_rows):
    row = squad_rows[0]
    views = [row.question, row.question.lower().replace("nfl", "football"), "Which team won?"]
    answers, probs = tiny_qa.span_distribution(views, row.context, top_k=5)
    assert probs.shape == (3, len(answers))
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    keys = [normalize_answer(a) for a in answers]
    assert len(set(keys)) == len(keys)  # one entry per normalized text
    # the union: every view's own top-k candidates are in the shared answer set
    per_view = tiny_qa.candidate_spans(views, [row.context] * 3, top_k=5)
    for spans in per_view:
        assert {normalize_answer(t) for t, _ in spans} <= set(keys)
    s = sensitivity(probs[0], probs[1:])
    assert 0.0 <= float(s) <= 1.0


def test_duplicates_by_normalized_text_are_merged_by_logsumexp(tiny_qa):
    context = "Paris. The paris! Paris is big, paris."
    question = "Which city?"
    max_len = 3
    every = 10_000  # top_k above the number of spans: all spans are candidates
    spans = tiny_qa.candidate_spans([question], [context], top_k=every, max_answer_len=max_len)[0]
    answers, probs = tiny_qa.span_distribution([question], context, top_k=every, max_answer_len=max_len)
    # expected: softmax over all spans, summed per normalized text
    scores = torch.tensor([s for _, s in spans])
    p_span = scores.softmax(-1)
    expected: dict[str, float] = {}
    for (text, _), p in zip(spans, p_span.tolist(), strict=True):
        key = normalize_answer(text)
        expected[key] = expected.get(key, 0.0) + p
    keys = [normalize_answer(a) for a in answers]
    assert sorted(keys) == sorted(expected)
    assert len(keys) < len(spans)  # "Paris", "paris", "The paris", "paris." ... merged
    got = dict(zip(keys, probs[0].tolist(), strict=True))
    for key, p in expected.items():
        assert got[key] == pytest.approx(p, abs=1e-5)
    assert sum(1 for t, _ in spans if normalize_answer(t) == "paris") >= 4


def test_token_positions_cover_the_answer(tiny_qa, squad_rows):
    rows = squad_rows[:8]
    contexts = [r.context for r in rows]
    enc = tiny_qa.tokenize([r.question for r in rows], contexts)
    starts, ends = tiny_qa.token_positions(enc, contexts, [r.answers[0] for r in rows])
    offsets = enc["offset_mapping"].tolist()
    exact = 0
    for r, row in enumerate(rows):
        s, e = int(starts[r]), int(ends[r])
        assert 0 < s <= e
        decoded = row.context[offsets[r][s][0] : offsets[r][e][1]]
        # the smallest token span covering the answer ("gold" inside the token "golden" is real)
        assert row.answers[0][0] in decoded
        assert row.answers[0][0] not in row.context[offsets[r][s][1] : offsets[r][e][1]]
        assert row.answers[0][0] not in row.context[offsets[r][s][0] : offsets[r][e][0]]
        exact += decoded == row.answers[0][0]
    assert exact >= 6


def test_truncated_answer_goes_to_cls(make_tiny_qa, squad_rows):
    short = make_tiny_qa(max_length=32)
    row = max(squad_rows, key=lambda r: r.answers[0][1])  # the answer furthest into its context
    early = min(squad_rows, key=lambda r: r.answers[0][1])
    enc = short.tokenize([row.question, early.question], [row.context, early.context])
    assert enc["input_ids"].shape[1] == 32
    starts, ends = short.token_positions(
        enc, [row.context, early.context], [row.answers[0], early.answers[0]]
    )
    assert (int(starts[0]), int(ends[0])) == (0, 0)
    assert int(starts[1]) > 0


def test_training_loss_goes_down_on_real_examples(make_tiny_qa, squad_rows):
    model = make_tiny_qa()
    rows = squad_rows[:8]
    batch = ([r.question for r in rows], [r.context for r in rows], [r.answers[0] for r in rows])
    with torch.no_grad():
        before = float(model.training_loss(*batch))
    length = model.tokenize(batch[0], batch[1])["input_ids"].shape[1]
    # a random head is near-uniform over the positions: CE close to log(sequence length)
    assert before == pytest.approx(math.log(length), rel=0.15)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(6):
        opt.zero_grad()
        loss = model.training_loss(*batch)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(model.training_loss(*batch))
    assert after < 0.75 * before, (before, after)
