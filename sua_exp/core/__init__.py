"""Pure, batched tensor math of SUA (DESIGN section 1): entropy, divergences, sensitivity, SUA
scores and the flip certificate. No I/O; probabilities have the class axis last."""

from ._eps import EPS
from .certificate import FLIP_TOL, flip_certificate
from .divergences import (
    DIVERGENCES,
    divergence,
    get_divergence,
    hellinger,
    js_divergence,
    kl_divergence,
    symmetric_kl,
    total_variation,
)
from .ensemble import modal_frequency, mutual_information, sample_answers, self_consistency_score
from .entropy import entropy, margin, max_prob, normalized_entropy
from .sensitivity import AGGREGATIONS, sensitivity, view_divergences
from .sua import sua_plus, sua_score, u_sua

__all__ = [
    "AGGREGATIONS",
    "DIVERGENCES",
    "EPS",
    "FLIP_TOL",
    "divergence",
    "entropy",
    "flip_certificate",
    "get_divergence",
    "hellinger",
    "js_divergence",
    "kl_divergence",
    "margin",
    "max_prob",
    "modal_frequency",
    "mutual_information",
    "normalized_entropy",
    "sample_answers",
    "self_consistency_score",
    "sensitivity",
    "sua_plus",
    "sua_score",
    "symmetric_kl",
    "total_variation",
    "u_sua",
    "view_divergences",
]
