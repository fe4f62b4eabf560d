"""Run set-up shared by the entry points: instantiation from config, run metadata, resume."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("sua_exp")

TRACKED_PACKAGES = (
    "torch",
    "lightning",
    "transformers",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "wandb",
    "nltk",
)


def apply_extras(cfg: DictConfig) -> None:
    extras = cfg.get("extras") or {}
    if extras.get("wandb_offline_default", True):
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if extras.get("print_config", False):
        log.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=False))


def stable_run_id(output_dir: str | os.PathLike) -> str:
    """A logger run id derived from the run dir: rerunning the same command in the same run dir
    (a resume) continues the same W&B run instead of starting a new one."""
    import hashlib

    return hashlib.blake2b(str(Path(output_dir).resolve()).encode(), digest_size=6).hexdigest()


def instantiate_group(cfg: DictConfig | None, output_dir: str | os.PathLike | None = None) -> list[Any]:
    """Instantiate every `_target_` entry of a callbacks/logger group (a dict of named configs)."""
    if not cfg:
        return []
    out = []
    for name, sub in cfg.items():
        if isinstance(sub, DictConfig) and "_target_" in sub:
            kwargs = {}
            if sub._target_.endswith("WandbLogger") and sub.get("id") is None and output_dir is not None:
                kwargs = {"id": stable_run_id(output_dir), "resume": "allow"}
            out.append(hydra.utils.instantiate(sub, **kwargs))
        elif sub is not None:
            raise ValueError(f"config entry '{name}' has no _target_")
    return out


def run_metadata(cfg: DictConfig) -> dict[str, Any]:
    """What a rerun needs to reproduce this run: seed, git commit, versions, command line."""
    root = Path(cfg.paths.root_dir)

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
        return proc.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD") or None
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    versions = {}
    for pkg in TRACKED_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "seed": cfg.seed,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "argv": sys.argv,
    }


def find_resume_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The run dir's `checkpoints/last.ckpt`, if a previous attempt of this run left one."""
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def sync_csv_loggers(loggers: list[Any]) -> None:
    """Teach each CSV logger the columns already in its metrics.csv.

    With a spawn-based strategy (trainer=ddp_sim) training runs in child processes, so the
    parent's CSV logger never saw those columns; the test stage would then rewrite the file with a
    header missing them and fail. Reading the header back restores the logger's state.
    """
    import csv

    from lightning.pytorch.loggers import CSVLogger

    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        path = Path(logger.experiment.metrics_file_path)
        if path.is_file():
            with path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            logger.experiment.metrics_keys = sorted(set(logger.experiment.metrics_keys) | set(header))
