"""Throughput of every perturbation config (conf/perturbation/*.yaml) on sarcasm headlines.

    python benchmarks/perturb_throughput.py [--data-dir DIR] [--n 10000] [--repeats 3] [--views 1]

Each config is instantiated exactly as the experiments do (Hydra composition with
``paths.data_dir``), warmed up on a few headlines (lexicon loading is reported separately as
``load_s``), then timed on ``--n`` headlines: best of ``--repeats`` runs of ``p.neighbourhood(texts,
views)`` (``--views 1`` = one perturbed copy per text). Prints sentences/second (texts x views per
second) per perturbation. Single process, pure Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def default_data_dir() -> Path:
    env = os.environ.get("SUA_DATA_DIR")
    return Path(env) if env else ROOT / "data"


def load_headlines(data_dir: Path, n: int) -> list[str]:
    out = []
    with open(data_dir / "classification" / "sarcasm_headlines.jsonl", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="config names to run (default: all)")
    args = ap.parse_args(argv)

    if not (args.data_dir / "classification" / "sarcasm_headlines.jsonl").is_file():
        print(
            f"no sarcasm_headlines.jsonl under {args.data_dir}; set SUA_DATA_DIR or --data-dir",
            file=sys.stderr,
        )
        return 2

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    import sua_exp.perturb  # noqa: F401  (import cost is not the perturbation's)

    texts = load_headlines(args.data_dir, args.n)
    names = sorted(p.stem for p in (CONF / "perturbation").glob("*.yaml"))
    if args.only:
        names = [n for n in names if n in set(args.only)]
    chars = sum(map(len, texts))
    print(
        f"{len(texts)} headlines ({chars / len(texts):.0f} chars on average), views={args.views}, "
        f"best of {args.repeats}; Python {platform.python_version()} on {platform.machine()}"
    )
    print(f"{'perturbation':<16} {'name':<34} {'load_s':>7} {'cold/s':>9} {'sent/s':>9} {'changed':>8}")
    for name in names:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(overrides=[f"+perturbation={name}", f"+paths.data_dir={args.data_dir}"])
        GlobalHydra.instance().clear()
        t0 = time.perf_counter()
        p = instantiate(cfg.perturbation)
        p(texts[:5])  # warm-up: lazy lexicon loading
        load_s = time.perf_counter() - t0
        times = []
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            nb = p.neighbourhood(texts, args.views, seed=0)
            times.append(time.perf_counter() - t0)
        best, cold = min(times), times[0]
        changed = sum(v != t for t, row in zip(texts, nb, strict=True) for v in row) / (
            len(texts) * args.views
        )
        n = len(texts) * args.views
        print(f"{name:<16} {p.name:<34} {load_s:>7.2f} {n / cold:>9,.0f} {n / best:>9,.0f} {changed:>8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
