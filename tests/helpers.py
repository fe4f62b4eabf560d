"""Test helpers shared across test folders (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

import sua_exp  # noqa: F401  (registers the sua.project_root resolver)
from sua_exp.data.sources import project_root

ROOT = project_root()
CONF_DIR = ROOT / "conf"


def real_data_dir() -> Path | None:
    env = os.environ.get("SUA_DATA_DIR")
    path = Path(env) if env else ROOT / "data"
    return path if (path / "classification").is_dir() else None


def compose_config(
    config_name: str, overrides: list[str] | None = None, output_dir: Path | None = None
) -> DictConfig:
    """Compose a config as the CLI would, with the `hydra:` interpolations given concrete values."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(config_name=config_name, overrides=overrides or [], return_hydra_config=False)
    with open_dict(cfg):
        out = str(output_dir or ROOT / "outputs" / "test")
        cfg.paths.output_dir = out
        cfg.paths.work_dir = str(ROOT)
    return cfg
