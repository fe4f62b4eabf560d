"""The LightningModule hands objectives what they need: warm-up progress, valid-label masks, views."""

from __future__ import annotations

import functools

import torch

from sua_exp.models import SUAModule, TextClassifier
from sua_exp.objectives import CrossEntropy
from sua_exp.perturb import WordDeletion

TINY = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


class Recorder(CrossEntropy):
    def __init__(self, num_views: int = 0, dropout_pass: bool = False) -> None:
        super().__init__()
        self.num_views = num_views
        self.needs_dropout_pass = dropout_pass
        self.seen: dict = {}

    def set_progress(self, step: int) -> None:
        self.seen["step"] = step

    def forward(self, logits, labels, view_logits=None, *, valid_mask=None):
        self.seen.update(view_logits=view_logits, valid_mask=valid_mask, logits=logits)
        return super().forward(logits, labels, view_logits)


def _module(loss, perturbation=None) -> SUAModule:
    torch.manual_seed(0)
    net = TextClassifier(num_labels=3, config=TINY, tokenizer="all-MiniLM-L6-v2")
    return SUAModule(
        net, loss, functools.partial(torch.optim.AdamW, lr=1e-3), train_perturbation=perturbation
    )


BATCH = {
    "texts": ["the cat sat on the mat today", "a dog ran in the big park", "birds sing early"],
    "text_pairs": None,
    "labels": torch.tensor([0, 1, 2]),
    "valid_labels": [None, (0, 2), None],
}


def test_valid_mask_and_progress_reach_the_objective():
    loss = Recorder()
    module = _module(loss)
    module.training_step(BATCH, 0)
    mask = loss.seen["valid_mask"]
    assert mask.tolist() == [[False, False, False], [True, False, True], [False, False, False]]
    assert loss.seen["step"] == 0 and loss.seen["view_logits"] is None


def test_text_views_share_one_forward_and_are_view_major():
    loss = Recorder(num_views=2)
    pert = WordDeletion(rate=0.5)
    module = _module(loss, pert)
    module.net.eval()  # dropout off, so the shared forward can be compared with separate ones
    module.training_step(BATCH, 0)
    views = loss.seen["view_logits"]
    assert views.shape == (3, 2, 3)
    with torch.no_grad():
        for m in range(2):  # view m of example i = logits of perturbation view m (seed = step*1000 + m)
            expected = module.net.logits_for(pert(BATCH["texts"], view=m, seed=m))
            assert torch.allclose(views[:, m], expected, atol=1e-5)


def test_rdrop_style_views_are_unperturbed_copies_with_their_own_dropout():
    loss = Recorder(num_views=1, dropout_pass=True)
    module = _module(loss)  # no perturbation needed
    module.net.train()
    module.training_step(BATCH, 0)
    clean, view = loss.seen["logits"], loss.seen["view_logits"][:, 0]
    assert not torch.allclose(clean, view)  # same text, different dropout masks


def test_batched_dedup_scoring_equals_the_straightforward_path():
    """Length-sorted, deduplicated batches give the numbers of one forward per text (1e-5)."""
    torch.manual_seed(0)
    net = TextClassifier(num_labels=3, config=TINY, tokenizer="all-MiniLM-L6-v2").eval()
    texts = ["short", "a much longer headline about nothing at all", "short", "mid length text here", ""] * 3
    fast = net.predict_proba(texts, batch_size=4)
    with torch.no_grad():
        slow = torch.cat([net.logits_for([t]).softmax(-1) for t in texts])
    assert torch.allclose(fast, slow, atol=1e-5)
    pairs = ["evidence one", "evidence two", "evidence one", "x", "y"] * 3
    fast = net.predict_proba(texts, pairs, batch_size=3)
    with torch.no_grad():
        slow = torch.cat([net.logits_for([t], [p]).softmax(-1) for t, p in zip(texts, pairs, strict=True)])
    assert torch.allclose(fast, slow, atol=1e-5)
