"""sua-exp: Sensitivity-Uncertainty Alignment for language models.

Low-level API: `sua_scores(p_clean, p_perturbed)` on tensors and `score_texts(predict_proba,
texts, perturbation)` for any callable model; see the README.
"""

from omegaconf import OmegaConf

from sua_exp.data.sources import project_root

__version__ = "0.1.0"

if not OmegaConf.has_resolver("sua.project_root"):
    OmegaConf.register_new_resolver("sua.project_root", lambda: str(project_root()))

from sua_exp.api import score_texts, sua_scores  # noqa: E402

__all__ = ["score_texts", "sua_scores"]
