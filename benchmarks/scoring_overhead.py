"""SUA scoring time / bare forward time on the same inputs (MiniLM, CPU, N=512, M=4; target <= 1.15).

The bare forward is the model alone on the already tokenized, length-sorted batches of the clean
texts and their M perturbed views. SUA scoring is the whole path a user pays for: perturbing,
tokenizing, deduplicating, the forwards, and every score and metric of the suite afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from sua_exp.models import TextClassifier
from sua_exp.perturb import KeyboardTypo, Mixture, WordDeletion
from sua_exp.scores import ScoreSuite, ScoringInputs


def headlines(n: int) -> list[str]:
    data = Path(os.environ.get("SUA_DATA_DIR", "data")) / "classification" / "sarcasm_headlines.jsonl"
    with data.open() as fh:
        return [json.loads(line)["text"] for _, line in zip(range(n), fh, strict=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    net = TextClassifier(num_labels=2, pretrained="all-MiniLM-L6-v2").eval()
    texts = headlines(args.n)
    pert = Mixture([KeyboardTypo(rate=0.05), WordDeletion(rate=0.1)])
    suite = ScoreSuite(num_views=args.views, alpha=1.0)

    def sua_scoring() -> None:
        nb = pert.neighbourhood(texts, args.views, seed=1)
        flat = texts + [v for row in nb for v in row]
        probs = net.predict_proba(flat, batch_size=args.batch_size)
        n = len(texts)
        suite.scores(ScoringInputs(probs[:n], probs[n:].view(n, args.views, -1)))

    # the bare forward: the same unique texts, tokenized and batched beforehand, model only
    nb = pert.neighbourhood(texts, args.views, seed=1)
    unique = sorted(set(texts + [v for row in nb for v in row]), key=len)
    batches = [net.tokenize(unique[i : i + args.batch_size]) for i in range(0, len(unique), args.batch_size)]

    def bare_forward() -> None:
        with torch.inference_mode():
            for enc in batches:
                net(**enc).softmax(-1)

    def best(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    t_bare, t_sua = best(bare_forward), best(sua_scoring)
    ratio = t_sua / t_bare
    print(f"inputs: {args.n} x (1 + {args.views} views) = {args.n * (1 + args.views)}, unique {len(unique)}")
    print(f"bare forward {t_bare:.3f}s   sua scoring {t_sua:.3f}s")
    print(f"scoring_overhead  ratio={ratio:.3f}  target<=1.15  {'pass' if ratio <= 1.15 else 'fail'}")


if __name__ == "__main__":
    main()
