"""Greedy WordNet attack on a real classifier: a bag-of-words logistic regression trained here on
2000 sarcasm headlines (deterministic, fast), attacked on 80 held-out headlines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sua_exp.perturb import WORD_RE, AttackResult, GreedyWordSubstitution, attack_summary

SARCASM = "classification/sarcasm_headlines.jsonl"
CONF = Path(__file__).resolve().parents[2] / "conf" / "attack"
LABELS = ["not_sarcastic", "sarcastic"]


class BagOfWords:
    """Binary bag-of-words logistic regression; ``predict_proba(list[str]) -> [N, 2]``."""

    def __init__(self, texts: list[str], labels: list[int], steps: int = 120) -> None:
        vocab = sorted({w.lower() for t in texts for w in WORD_RE.findall(t)})
        self.index = {w: i for i, w in enumerate(vocab)}
        ids, offsets = self.features(texts)
        y = torch.tensor(labels)
        self.w = torch.zeros(len(vocab), 2, requires_grad=True)
        self.b = torch.zeros(2, requires_grad=True)
        opt = torch.optim.Adam([self.w, self.b], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            logits = F.embedding_bag(ids, self.w, offsets, mode="sum") + self.b
            loss = F.cross_entropy(logits, y) + 1e-4 * self.w.pow(2).sum()
            loss.backward()
            opt.step()
        self.w.requires_grad_(False)
        self.b.requires_grad_(False)
        self.texts_seen = 0

    def features(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat ids of each text's distinct known words + offsets (for embedding_bag)."""
        ids: list[int] = []
        offsets: list[int] = []
        for t in texts:
            offsets.append(len(ids))
            ids.extend(sorted({self.index[w] for w in map(str.lower, WORD_RE.findall(t)) if w in self.index}))
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def predict_proba(self, texts: list[str]) -> torch.Tensor:
        self.texts_seen += len(texts)
        ids, offsets = self.features(texts)
        return (F.embedding_bag(ids, self.w, offsets, mode="sum") + self.b).softmax(-1)


@pytest.fixture(scope="module")
def headlines(pdata: Path) -> list[tuple[str, int]]:
    rows = []
    with open(pdata / SARCASM, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            rows.append((o["text"], LABELS.index(o["label"])))
            if len(rows) == 2080:
                break
    return rows


@pytest.fixture(scope="module")
def model(headlines) -> BagOfWords:
    train = headlines[:2000]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: extra threads only spin on a shared machine
    try:
        return BagOfWords([t for t, _ in train], [y for _, y in train])
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def attacker(pdata: Path, wn_cache: str) -> GreedyWordSubstitution:
    return GreedyWordSubstitution(wordnet_dir=str(pdata / "lexicon" / "wordnet"), cache_dir=wn_cache)


@pytest.fixture(scope="module")
def results(attacker, model, headlines) -> list[AttackResult]:
    test = headlines[2000:]
    return attacker.attack([t for t, _ in test], [y for _, y in test], model.predict_proba)


def test_model_is_a_real_classifier(model, headlines):
    test = headlines[2000:]
    pred = model.predict_proba([t for t, _ in test]).argmax(1)
    acc = (pred == torch.tensor([y for _, y in test])).float().mean().item()
    assert acc > 0.6  # well above chance on held-out headlines


def test_finds_successful_attacks_that_really_flip(results, model):
    succ = [r for r in results if r.success]
    assert len(succ) >= 5
    for r in succ:
        assert r.attacked != r.original and r.modified_words >= 1
        assert int(model.predict_proba([r.attacked])[0].argmax()) != r.label
        assert r.attacked_label != r.label
    stats = attack_summary(results)
    assert 0 < stats["attack_success_rate"] <= 1
    assert stats["num_successful"] == len(succ)


def test_budgets_are_never_exceeded(results, attacker):
    for r in results:
        assert r.queries <= attacker.max_queries
        assert r.modification_rate <= attacker.max_modification_rate + 1e-12
        assert r.modified_words <= math.floor(attacker.max_modification_rate * r.num_words + 1e-9)
        # the attacked text differs from the original in exactly modified_words words
        a, o = WORD_RE.findall(r.attacked), WORD_RE.findall(r.original)
        assert len(a) == len(o) and sum(x != y for x, y in zip(a, o, strict=True)) == r.modified_words


def test_tight_budgets_hold_and_queries_are_counted(attacker, model, headlines, pdata, wn_cache):
    test = headlines[2000:2040]
    tight = GreedyWordSubstitution(
        wordnet_dir=str(pdata / "lexicon" / "wordnet"),
        cache_dir=wn_cache,
        max_queries=6,
        max_modification_rate=0.1,
        max_candidates=3,
    )
    before = model.texts_seen
    res = tight.attack([t for t, _ in test], [y for _, y in test], model.predict_proba)
    assert model.texts_seen - before == sum(r.queries for r in res)  # one query per text evaluated
    assert all(r.queries <= 6 and r.modification_rate <= 0.1 for r in res)
    # a one-query budget only checks the original prediction
    one = GreedyWordSubstitution(synonyms=attacker.synonyms, max_queries=1)
    assert all(
        r.queries == 1 and r.attacked == r.original
        for r in one.attack(*zip(*test, strict=True), model.predict_proba)
    )


def test_originally_wrong_inputs_are_skipped(results, model, headlines):
    test = headlines[2000:]
    pred = model.predict_proba([t for t, _ in test]).argmax(1).tolist()
    wrong = [p != y for p, (_, y) in zip(pred, test, strict=True)]
    assert any(wrong)
    for r, w in zip(results, wrong, strict=True):
        assert r.skipped == w
        if w:
            assert not r.success and r.queries == 1 and r.attacked == r.original and r.modified_words == 0
    stats = attack_summary(results)
    assert stats["num_skipped"] == sum(wrong)
    assert stats["original_accuracy"] == pytest.approx(1 - sum(wrong) / len(test))


def test_deterministic(attacker, model, results, headlines):
    test = headlines[2000:2030]
    again = attacker.attack([t for t, _ in test], [y for _, y in test], model.predict_proba)
    assert again == results[:30]
    fresh = GreedyWordSubstitution(synonyms=attacker.synonyms)
    assert fresh.attack([t for t, _ in test], [y for _, y in test], model.predict_proba) == again


def test_protected_and_stop_words_are_never_substituted(attacker, model, results):
    for r in results:
        for a, o in zip(WORD_RE.findall(r.attacked), WORD_RE.findall(r.original), strict=True):
            if a != o:
                assert o.lower() not in {"the", "a", "of", "to", "is", "and", "in", "for"}
    target = next(r for r in results if r.success)
    changed = {
        o.lower()
        for a, o in zip(WORD_RE.findall(target.attacked), WORD_RE.findall(target.original), strict=True)
        if a != o
    }
    guarded = GreedyWordSubstitution(synonyms=attacker.synonyms, protected_words=sorted(changed))
    res = guarded.attack([target.original], [target.label], model.predict_proba)[0]
    for a, o in zip(WORD_RE.findall(res.attacked), WORD_RE.findall(res.original), strict=True):
        assert o.lower() not in changed or a == o


def test_edge_inputs(attacker, model):
    texts = ["", "   ", "\U0001f600\U0001f600", "2024", "x " * 2000]
    res = attacker.attack(texts, [0] * len(texts), model.predict_proba)
    assert [r.original for r in res] == texts
    assert all(r.queries <= attacker.max_queries for r in res)
    with pytest.raises(ValueError):
        attacker.attack(["a"], [0, 1], model.predict_proba)
    with pytest.raises(ValueError, match="shape"):
        attacker.attack(["a b"], [0], lambda ts: torch.zeros(len(ts)))


def test_yaml_instantiates(pdata, wn_cache, model, headlines):
    node = OmegaConf.load(CONF / "greedy_wordnet.yaml")
    cfg = OmegaConf.merge(
        {"paths": {"data_dir": str(pdata)}}, {"attack": node}, {"attack": {"cache_dir": wn_cache}}
    )
    att = instantiate(cfg.attack)
    assert isinstance(att, GreedyWordSubstitution)
    assert (att.max_modification_rate, att.max_queries) == (0.2, 200)
    r = att.attack([headlines[2000][0]], [headlines[2000][1]], model.predict_proba)[0]
    assert r.queries <= 200
