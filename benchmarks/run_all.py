"""Run every benchmark in one command and print their ratio lines: python benchmarks/run_all.py"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = [
    ["scoring_overhead.py"],
    ["sua_tr_step.py"],
    ["option_scoring.py"],
    ["perturb_vs_nlpaug.py", "--repeats", "2"],
]


def main() -> int:
    failed = 0
    for cmd in SUITE:
        print(f"== {cmd[0]}", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], cwd=HERE.parent, text=True)
        failed += proc.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
