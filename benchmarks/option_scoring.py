"""Shared-prefix (KV cache) vs naive option scoring with SmolLM2-135M-Instruct (DESIGN section 7).

    python benchmarks/option_scoring.py [--data-dir DIR] [--n 40] [--repeats 2] [--batch-size 8]

Both paths score the same ~40 BBQ examples (half ambiguous, half disambiguated contexts; 3
options each, chat-templated prompt listing the options), in the same batches of examples:
``naive`` runs every (prompt + option) sequence in full, ``shared`` runs each prompt once and
its options against the gathered KV cache. Timings are the best of ``--repeats`` alternating
runs after one warm-up batch, measured side by side in one process, on one torch thread by
default (``--threads``): on a machine shared with other jobs, multi-threaded wall-clock ratios
swing by 2x from run to run; the ratio is a property of the work done, which one thread measures. Prints the speed-up
(target >= 1.8) and the max abs difference of the option log-likelihoods (must be <= 1e-4).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.8
TOLERANCE = 1e-4


def default_data_dir() -> Path:
    env = os.environ.get("SUA_DATA_DIR")
    return Path(env) if env else ROOT / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: stable ratios on a shared machine; 0 = torch's choice)",
    )
    args = ap.parse_args(argv)

    bbq = args.data_dir / "qa_mc" / "bbq.jsonl"
    if not bbq.is_file():
        print(f"no qa_mc/bbq.jsonl under {args.data_dir}; set SUA_DATA_DIR or --data-dir", file=sys.stderr)
        return 2

    import torch

    from sua_exp.data.classification import subsample
    from sua_exp.data.multiple_choice import format_prompt, load_multiple_choice_file
    from sua_exp.models.causal_lm import OptionScorer

    if args.threads:
        torch.set_num_threads(args.threads)
    examples = []
    for condition in ("ambig", "disambig"):
        rows = load_multiple_choice_file(bbq, meta_filter={"context_condition": condition})
        examples += subsample(rows, args.n // 2 + (args.n % 2 if condition == "ambig" else 0), seed=0)
    prompts = [format_prompt(ex) for ex in examples]
    options = [list(ex.choices) for ex in examples]

    t0 = time.perf_counter()
    scorer = OptionScorer(pretrained=args.model, batch_size=args.batch_size, device="cpu")
    load_s = time.perf_counter() - t0
    n_prompt = sum(len(scorer.prompt_ids(p)) for p in prompts) / len(prompts)
    n_option = sum(len(scorer.option_ids(o)) for opts in options for o in opts) / sum(map(len, options))

    scorer.option_logprobs(prompts[: args.batch_size], options[: args.batch_size])  # warm-up
    scorer.option_logprobs(prompts[: args.batch_size], options[: args.batch_size], naive=True)
    times: dict[str, list[float]] = {"shared": [], "naive": []}
    results = {}
    for _ in range(args.repeats):
        for path in ("naive", "shared"):
            t = time.perf_counter()
            results[path] = scorer.option_logprobs(prompts, options, naive=path == "naive")
            times[path].append(time.perf_counter() - t)
    shared, naive = min(times["shared"]), min(times["naive"])
    speedup = naive / shared
    (s_sum, s_mean, s_mask), (n_sum, n_mean, n_mask) = results["shared"], results["naive"]
    if not torch.equal(s_mask, n_mask):
        print("option masks differ between the paths", file=sys.stderr)
        return 1
    max_diff = max((s_sum - n_sum).abs().max().item(), (s_mean - n_mean).abs().max().item())
    acc = (
        (
            scorer.scores_to_proba(s_sum, s_mean, s_mask).argmax(-1)
            == torch.tensor([ex.label for ex in examples])
        )
        .float()
        .mean()
        .item()
    )

    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads={torch.get_num_threads()}, model={args.model} (load {load_s:.1f}s)"
    )
    print(
        f"# {len(examples)} BBQ examples, {s_mask.sum().item() / len(examples):.1f} options each, "
        f"prompt {n_prompt:.0f} tokens, option {n_option:.1f} tokens (mean), batch {args.batch_size} examples"
    )
    print(f"# naive {naive:.2f}s  shared {shared:.2f}s  (best of {args.repeats}); accuracy {acc:.3f}")
    ok_speed, ok_diff = speedup >= TARGET, max_diff <= TOLERANCE
    print(f"option_scoring  speedup={speedup:.2f}  target>={TARGET}  {'pass' if ok_speed else 'fail'}")
    print(
        f"option_scoring  max_abs_logprob_diff={max_diff:.2e}  tol<={TOLERANCE:g}  {'pass' if ok_diff else 'fail'}"
    )
    return 0 if ok_speed and ok_diff else 1


if __name__ == "__main__":
    sys.exit(main())
