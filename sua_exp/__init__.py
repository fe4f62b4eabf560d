"""sua-exp: Sensitivity-Uncertainty Alignment for language models."""

from omegaconf import OmegaConf

from sua_exp.data.sources import project_root

__version__ = "0.1.0"

if not OmegaConf.has_resolver("sua.project_root"):
    OmegaConf.register_new_resolver("sua.project_root", lambda: str(project_root()))
