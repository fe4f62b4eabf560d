"""SUA-TR training step time / CE step time at one perturbed view, R-Drop alongside (target <= 2.2).

MiniLM on CPU, batch of 32 sarcasm headlines: forward + backward + optimizer step through the real
LightningModule training_step (text views share one forward with the clean batch).
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from scoring_overhead import headlines

from sua_exp.models import SUAModule, TextClassifier
from sua_exp.objectives import SUATR, CrossEntropy, RDrop
from sua_exp.perturb import KeyboardTypo, Mixture, WordDeletion


def step_time(loss, batches, steps: int) -> float:
    torch.manual_seed(0)
    net = TextClassifier(num_labels=2, pretrained="all-MiniLM-L6-v2")
    module = SUAModule(
        net,
        loss,
        functools.partial(torch.optim.AdamW, lr=1e-5),
        train_perturbation=Mixture([KeyboardTypo(rate=0.05), WordDeletion(rate=0.1)]),
    )
    opt = torch.optim.AdamW(module.parameters(), lr=1e-5)
    module.log = lambda *a, **k: None  # outside a Trainer: logging is not what is measured
    times = []
    for i in range(steps + 1):
        batch = batches[i % len(batches)]
        t0 = time.perf_counter()
        out = module.training_step(batch, i)
        out.backward()
        opt.step()
        opt.zero_grad()
        if i:  # the first step is warm-up
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    texts = headlines(args.batch_size * 4)
    batches = [
        {
            "texts": texts[i : i + args.batch_size],
            "text_pairs": None,
            "valid_labels": [None] * args.batch_size,
            "labels": torch.randint(0, 2, (args.batch_size,)),
        }
        for i in range(0, len(texts), args.batch_size)
    ]
    ce = step_time(CrossEntropy(), batches, args.steps)
    sua = step_time(SUATR(num_views=1), batches, args.steps)
    rdrop = step_time(RDrop(num_views=1), batches, args.steps)
    print(f"median step: ce {ce:.3f}s  sua_tr {sua:.3f}s  rdrop {rdrop:.3f}s")
    print(f"sua_tr_step  ratio={sua / ce:.3f}  target<=2.2  {'pass' if sua / ce <= 2.2 else 'fail'}")
    print(f"rdrop_step   ratio={rdrop / ce:.3f}  (peer at the same cost)")


if __name__ == "__main__":
    main()
