"""Make the source tree importable when ``sua_exp`` is not installed.

``--import-mode=importlib`` does not put the repository root on ``sys.path``, and the package may
not be pip-installed in a fresh checkout. This only prepends the root when the import would fail.
(The project-wide fix is ``pythonpath = ["."]`` in pyproject's pytest options or ``pip install -e .``.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("sua_exp") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
