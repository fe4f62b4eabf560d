"""Robustness metrics: accuracy under perturbations, worst case over a neighbourhood, flips, ASR."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["attack_success_rate", "robustness_metrics"]

_RESERVED_VIEW_NAMES = {"clean", "worst"}


def robustness_metrics(
    pred_clean: Tensor,
    pred_views: Tensor,
    labels: Tensor,
    view_names: list[str] | None = None,
) -> dict[str, float]:
    """Accuracy on clean inputs and their perturbed views.

    Args:
        pred_clean: ``[N]`` predicted class on each clean input.
        pred_views: ``[N, M]`` predicted class on each of the M perturbed views of each input.
        labels: ``[N]`` gold class.
        view_names: optional length-M names (e.g. the perturbation of each view column).

    Returns:
        ``rob/acc/clean``; ``rob/acc/worst`` = fraction correct on the clean input *and* on every
        view (worst case over the evaluated neighbourhood); ``rob/flip_rate`` = fraction whose
        prediction on at least one view differs from the clean prediction; and, when names are
        given, ``rob/acc/<name>`` = accuracy averaged over all views (columns) sharing that name.
        ``nan`` values for empty input.
    """
    pred_clean = torch.as_tensor(pred_clean).detach().cpu()
    pred_views = torch.as_tensor(pred_views).detach().cpu()
    labels = torch.as_tensor(labels).detach().cpu()
    if pred_clean.dim() != 1 or labels.shape != pred_clean.shape:
        raise ValueError(
            f"pred_clean and labels must be 1-D of equal length, got {tuple(pred_clean.shape)}, {tuple(labels.shape)}"
        )
    if pred_views.dim() != 2 or pred_views.shape[0] != pred_clean.shape[0]:
        raise ValueError(
            f"pred_views must have shape [N={pred_clean.shape[0]}, M], got {tuple(pred_views.shape)}"
        )
    n, m = pred_views.shape
    if view_names is not None:
        if len(view_names) != m:
            raise ValueError(f"view_names has {len(view_names)} names for {m} views")
        clash = _RESERVED_VIEW_NAMES.intersection(view_names)
        if clash:
            raise ValueError(f"view names {sorted(clash)} clash with rob/acc/clean and rob/acc/worst")
    if n == 0:
        nan = float("nan")
        out = {"rob/acc/clean": nan, "rob/acc/worst": nan, "rob/flip_rate": nan}
        out.update({f"rob/acc/{name}": nan for name in dict.fromkeys(view_names or [])})
        return out

    clean_ok = pred_clean == labels
    views_ok = pred_views == labels[:, None]
    out = {
        "rob/acc/clean": float(clean_ok.double().mean()),
        "rob/acc/worst": float((clean_ok & views_ok.all(dim=1)).double().mean()),
        "rob/flip_rate": float((pred_views != pred_clean[:, None]).any(dim=1).double().mean()),
    }
    if view_names is not None:
        for name in dict.fromkeys(view_names):  # first-seen order
            cols = [j for j, v in enumerate(view_names) if v == name]
            out[f"rob/acc/{name}"] = float(views_ok[:, cols].double().mean())
    return out


def attack_success_rate(orig_correct: Tensor, attacked_correct: Tensor) -> float:
    """Attack success rate as in TextAttack: ``successful / (successful + failed)``.

    Inputs the model already got wrong are *skipped* (not attacked). Among the originally correct
    ones, an attack is successful when the attacked input is predicted wrongly, failed otherwise.
    ``nan`` when no input was originally correct.
    """
    orig_correct = torch.as_tensor(orig_correct).detach().cpu().bool()
    attacked_correct = torch.as_tensor(attacked_correct).detach().cpu().bool()
    if orig_correct.shape != attacked_correct.shape:
        raise ValueError(f"shape mismatch: {tuple(orig_correct.shape)} vs {tuple(attacked_correct.shape)}")
    attempted = int(orig_correct.sum())
    if attempted == 0:
        return float("nan")
    successful = int((orig_correct & ~attacked_correct).sum())
    return successful / attempted
