"""Figures 1 and 2 (PNG) recomputed from `per_example.jsonl`, one representative run per group.

The representative run of a group is its lowest-seed usable run that has a per-example file.
Matplotlib is used through its object API on the Agg canvas, so no global backend is switched.

* Figure 1: S(x) vs Hn(x) on the chosen condition (default clean), correct vs wrong, with the
  alignment line S = Hn (points above it are misaligned: [SUA]+ > 0).
* Figure 2: risk-coverage curves per score (msp = 1 - max p, entropy = Hn, sensitivity = S,
  sua = SUA, u_sua = U_sua), accepting inputs in ascending score order
  (`sua_exp.evaluation.failure_detection.risk_coverage_curve`), with the oracle and the
  error rate of answering everything.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sua_exp.reporting.runs import SCORE_NAMES, GroupKey, Run, RunSet

log = logging.getLogger("sua_exp")

FIGURE1 = "figure1_s_vs_hn.png"
FIGURE2 = "figure2_risk_coverage.png"
CURVE_SCORES = ("msp", "entropy", "sensitivity", "sua", "u_sua")


@dataclass
class FigureInfo:
    path: Path
    title: str
    caption: str
    panels: list[str] = field(default_factory=list)


def load_per_example(path: str | Path, condition: str = "clean") -> dict[str, np.ndarray]:
    """Arrays (one entry per usable row) of Hn, S, SUA, U_sua, msp (= 1 - max p) and error.

    Rows without the condition or its `correct` flag are skipped; a malformed line is skipped
    with a warning naming the file and line.
    """
    cols: dict[str, list[float]] = {k: [] for k in ("entropy", "sensitivity", "sua", "u_sua", "msp", "error")}
    fields = {"entropy": "Hn", "sensitivity": "S", "sua": "SUA", "u_sua": "U_sua"}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                log.warning("%s:%d: malformed JSON line skipped (%s)", path, lineno, err)
                continue
            view = row.get(condition) if isinstance(row, dict) else None
            if not isinstance(view, dict) or "correct" not in view:
                continue
            probs = view.get("probs")
            if isinstance(probs, list) and probs:
                msp = 1.0 - max(float(p) for p in probs)
            elif view.get("msp") is not None:
                msp = 1.0 - float(view["msp"])
            else:
                msp = math.nan
            cols["msp"].append(msp)
            for name, key in fields.items():
                value = view.get(key)
                cols[name].append(float(value) if value is not None else math.nan)
            cols["error"].append(0.0 if view["correct"] else 1.0)
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def representative_runs(runset: RunSet, max_groups: int | None = None) -> list[tuple[GroupKey, Run]]:
    out = []
    for key, runs in runset.groups.items():
        run = next((r for r in runs if r.per_example.is_file()), None)
        if run is not None:
            out.append((key, run))
    return out[:max_groups] if max_groups else out


def _canvas(n_panels: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = max(1, min(3, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    fig = Figure(figsize=(4.6 * ncols, 4.0 * nrows), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


def _placeholder(path: Path, message: str) -> None:
    fig, axes = _canvas(1)
    axes[0].axis("off")
    axes[0].text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    fig.savefig(path)


def _panel_title(key: GroupKey, run: Run) -> str:
    return f"{key.data} / {key.model}\n{key.loss} / {key.perturbation} (seed {run.seed})"


def figure_s_vs_hn(
    runset: RunSet, path: str | Path, condition: str = "clean", max_groups: int = 12, max_points: int = 5000
) -> FigureInfo:
    """Figure 1: sensitivity S vs normalized entropy Hn, correct vs wrong, alignment line S = Hn."""
    path = Path(path)
    info = FigureInfo(
        path,
        "Figure 1: sensitivity S vs normalized entropy Hn",
        f"{condition} condition, one representative run per group (lowest seed with per_example.jsonl); "
        "points above the line S = Hn are misaligned ([SUA]+ > 0).",
    )
    panels = []
    for key, run in representative_runs(runset, max_groups):
        data = load_per_example(run.per_example, condition)
        keep = np.isfinite(data["entropy"]) & np.isfinite(data["sensitivity"])
        if keep.any():
            panels.append((key, run, {k: v[keep] for k, v in data.items()}))
    if not panels:
        _placeholder(path, f"No per_example.jsonl with Hn and S ({condition}) in any usable run.")
        return info
    fig, axes = _canvas(len(panels))
    rng = np.random.default_rng(0)
    for ax, (key, run, d) in zip(axes, panels, strict=False):
        idx = np.arange(d["error"].size)
        if idx.size > max_points:
            idx = np.sort(rng.choice(idx, size=max_points, replace=False))
        hn, s, err = d["entropy"][idx], d["sensitivity"][idx], d["error"][idx] > 0
        ax.scatter(
            hn[~err], s[~err], s=6, alpha=0.35, color="tab:blue", label=f"correct ({(~err).sum()})", lw=0
        )
        ax.scatter(hn[err], s[err], s=10, alpha=0.7, color="tab:red", label=f"wrong ({err.sum()})", lw=0)
        top = max(1.0, float(np.quantile(d["sensitivity"], 0.995)) * 1.05)
        ax.plot([0, top], [0, top], color="black", lw=1, ls="--", label="S = Hn")
        ax.set_xlim(0, max(1.0, float(d["entropy"].max())) * 1.02)
        ax.set_ylim(0, top * 1.02)
        above = float(np.mean(d["sensitivity"] > d["entropy"]))
        ax.text(
            0.98,
            0.02,
            f"S > Hn: {above:.1%}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
        ax.set_xlabel("Hn(x)  (normalized entropy)")
        ax.set_ylabel("S(x)  (sensitivity)")
        ax.set_title(_panel_title(key, run), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        info.panels.append(
            f"{key.label()}: {runset.display(run.path)} (seed {run.seed}, {d['error'].size} inputs)"
        )
    fig.suptitle(f"S vs Hn ({condition})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return info


def figure_risk_coverage(
    runset: RunSet, path: str | Path, condition: str = "clean", max_groups: int = 12
) -> FigureInfo:
    """Figure 2: risk-coverage curves per score, recomputed from the per-example file."""
    import torch

    from sua_exp.evaluation.failure_detection import aurc, risk_coverage_curve

    path = Path(path)
    info = FigureInfo(
        path,
        "Figure 2: risk-coverage curves per score",
        f"{condition} condition, recomputed from per_example.jsonl of one representative run per group; "
        "inputs accepted in ascending score order (msp = 1 - max p, entropy = Hn, sensitivity = S, "
        "sua = SUA, u_sua = U_sua); legend: AURC (lower is better).",
    )
    panels = [
        (k, r, load_per_example(r.per_example, condition)) for k, r in representative_runs(runset, max_groups)
    ]
    panels = [p for p in panels if p[2]["error"].size]
    if not panels:
        _placeholder(path, f"No per_example.jsonl ({condition}) in any usable run.")
        return info
    fig, axes = _canvas(len(panels))
    for ax, (key, run, d) in zip(axes, panels, strict=False):
        errors_all = torch.as_tensor(d["error"] > 0)
        for score, style in zip(CURVE_SCORES, ("-", "--", "-", "-.", ":"), strict=True):
            values = torch.as_tensor(d[score])
            keep = torch.isfinite(values)
            if not keep.any():
                continue
            cov, risk, _ = risk_coverage_curve(values[keep], errors_all[keep])
            area = aurc(values[keep], errors_all[keep])
            ax.plot(
                cov.numpy(),
                risk.numpy(),
                lw=1.4,
                ls=style,
                label=f"{SCORE_NAMES.get(score, score)} ({area:.4f})",
            )
        # oracle: every correct input before every wrong one (distinct scores: one point per input)
        n = errors_all.numel()
        oracle = errors_all.double() + torch.arange(n, dtype=torch.float64) / (2 * n)
        cov, risk, _ = risk_coverage_curve(oracle, errors_all)
        ax.plot(cov.numpy(), risk.numpy(), color="gray", lw=1, ls="--", label="oracle")
        ax.axhline(float(errors_all.double().mean()), color="gray", lw=0.8, ls=":", label="no abstention")
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("coverage")
        ax.set_ylabel("selective risk")
        ax.set_title(_panel_title(key, run), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        info.panels.append(
            f"{key.label()}: {runset.display(run.path)} (seed {run.seed}, {d['error'].size} inputs)"
        )
    fig.suptitle(f"Risk-coverage ({condition})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return info
