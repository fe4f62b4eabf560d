"""The four paper tables (DESIGN.md section 6) built from a `RunSet`.

Every table is a plain `Table`: index columns (the setting and the row label), multi-level column
labels, and cells holding the seed aggregate (`Stat`: mean, std, n, seeds) of one metric over one
group's runs. Rendering (Markdown, LaTeX, CSV, HTML) lives in `sua_exp.reporting.render`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sua_exp.reporting.runs import (
    CONDITIONS,
    OBJECTIVE_NAMES,
    SCORE_NAMES,
    SCORES,
    GroupKey,
    Run,
    RunSet,
    Stat,
    sort_key,
)

FD_METRICS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "prr": "PRR",
    "prr_raw": "PRR raw",
    "aurc": "AURC",
    "augrc": "AUGRC",
}
# metrics whose values are small: one more digit
_FOUR_DIGITS = {"aurc", "augrc", "prr_raw"}
AMB_METRICS = {
    "collapse_rate": "Collapse rate",
    "mass_on_valid": "Mass on valid set",
    "js_to_human": "JS to human",
    "entropy_gap": "Entropy gap",
}
DISPLAY = {"objective": OBJECTIVE_NAMES, "score": SCORE_NAMES}

_FD_KEY = re.compile(r"^fd/([^/]+)/([^/]+)(?:/([^/]+))?$")
_SC_KEY = re.compile(r"^sc/(risk|cov)@([^/]+)/([^/]+)(?:/([^/]+))?$")
_AMB_KEY = re.compile(r"^amb/(" + "|".join(AMB_METRICS) + r")(?:/(.+))?$")
_ABSTAIN_KEY = re.compile(r"^abstain/([^/]+)/([^/]+)$")


@dataclass
class Cell:
    """One table cell: a seed aggregate, or literal text. `plain`: a count/config value (no +-)."""

    stat: Stat = field(default_factory=Stat)
    text: str | None = None
    digits: int = 3
    plain: bool = False

    @property
    def empty(self) -> bool:
        return self.text is None and self.stat.n == 0


@dataclass
class Row:
    index: tuple[str, ...]
    cells: list[Cell]
    runs: list[Run]


@dataclass
class Table:
    name: str
    title: str
    index: list[str]
    columns: list[tuple[str, ...]]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    groups: list[GroupKey] = field(default_factory=list)
    empty_message: str | None = None
    # index columns shown even when constant over the rows
    keep_index: tuple[str, ...] = ()

    def cell(self, index: dict[str, str] | Sequence[str], column: Sequence[str] | str) -> Cell:
        """Look a cell up by its row (index values, or a dict of some of them) and column label."""
        col = tuple(column) if not isinstance(column, str) else None
        cols = [i for i, c in enumerate(self.columns) if c == col or (col is None and column in c)]
        if len(cols) != 1:
            raise KeyError(f"{self.name}: column {column!r} matches {len(cols)} columns")
        if isinstance(index, dict):
            unknown = set(index) - set(self.index)
            if unknown:
                raise KeyError(f"{self.name}: no index column {sorted(unknown)}")
            rows = [r for r in self.rows if all(r.index[self.index.index(k)] == v for k, v in index.items())]
        else:
            rows = [r for r in self.rows if r.index == tuple(index)]
        if len(rows) != 1:
            raise KeyError(f"{self.name}: row {index!r} matches {len(rows)} rows")
        return rows[0].cells[cols[0]]


def _order(values, preferred: Sequence[str]) -> list[str]:
    values = set(values)
    return [v for v in preferred if v in values] + sorted(v for v in values if v not in preferred)


def _stat_cell(runset: RunSet, key: GroupKey, metrics: str | Sequence[str], digits: int = 3) -> Cell:
    return Cell(runset.stat(key, metrics), digits=digits)


def _pooled(runs: Sequence[Run], metric: str) -> Stat:
    return Stat.of((r.seed, r.metrics[metric]) for r in runs if metric in r.metrics)


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "nan"


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def _common_notes(seeds_min: int) -> list[str]:
    return [
        f"Cells: mean ± sample std over seeds; † marks cells with fewer than {seeds_min} seeds "
        "(their n is given); – means no run of that setting has the metric.",
    ]


# --------------------------------------------------------------------------- table 1


def _fd_index(run: Run) -> dict[tuple[str, str], set[str]]:
    """(metric, score) -> conditions present in a run's `fd/` keys (no suffix = clean)."""
    out: dict[tuple[str, str], set[str]] = {}
    for name in run.metrics:
        m = _FD_KEY.match(name)
        if m:
            out.setdefault((m.group(1), m.group(2)), set()).add(m.group(3) or "clean")
    return out


def failure_detection_table(
    runset: RunSet, seeds_min: int = 3, metrics: Sequence[str] = ("auroc", "prr", "aurc")
) -> Table:
    """Table 1: rows = score (per model / perturbation / objective), columns = (task, condition) x
    metric, plus the cost column (forward passes per input)."""
    groups = runset.groups
    conds: dict[str, set[str]] = {}
    scores: dict[tuple[str, str, str], set[str]] = {}
    for key, runs in groups.items():
        for run in runs:
            for (metric, score), cs in _fd_index(run).items():
                if metric in metrics:
                    conds.setdefault(key.data, set()).update(cs)
                    scores.setdefault((key.model, key.perturbation, key.loss), set()).add(score)
    tasks = sorted(conds)
    spec = [(task, cond, m) for task in tasks for cond in _order(conds[task], CONDITIONS) for m in metrics]
    columns = [(task, cond, FD_METRICS.get(m, m)) for task, cond, m in spec]
    table = Table(
        "table1_failure_detection",
        "Table 1: Failure detection (AUROC / PRR / AURC per task and condition)",
        ["model", "perturbation", "objective", "score"],
        columns + [("Cost", "", "")],
        keep_index=("score",),
    )
    used: set[GroupKey] = set()
    for model, pert, loss in sorted(scores, key=lambda s: sort_key(GroupKey("", s[0], s[2], s[1]))):
        keys = [
            GroupKey(task, model, loss, pert) for task in tasks if GroupKey(task, model, loss, pert) in groups
        ]
        row_runs = [r for k in keys for r in groups[k]]
        for score in _order(scores[(model, pert, loss)], SCORES):
            cells = []
            for task, cond, m in spec:
                key = GroupKey(task, model, loss, pert)
                names = [f"fd/{m}/{score}/{cond}"] + ([f"fd/{m}/{score}"] if cond == "clean" else [])
                cells.append(_stat_cell(runset, key, names, 4 if m in _FOUR_DIGITS else 3))
            if all(c.empty for c in cells):
                continue
            cells.append(Cell(_pooled(row_runs, f"cost/{score}"), plain=True))
            used.update(keys)
            table.rows.append(Row((model, pert, loss, score), cells, row_runs))
    table.groups = [k for k in groups if k in used]
    if not table.rows:
        table.empty_message = "No run has failure-detection metrics (fd/<metric>/<score> keys)."
    table.notes = _common_notes(seeds_min) + [
        "Failure = wrong prediction in the condition: clean (input as given), perturbed (the model "
        "sees a perturbed x'), adversarial (x' found by the attack), ambiguous, worst (wrong on any "
        "view of the evaluation neighbourhood).",
        "AUROC and PRR (normalized by oracle and random): higher is better; AURC: lower is better.",
        "Cost: forward passes per input for the score (cost/<score>).",
    ]
    alphas = [f"{k.label()}: {_fmt_stat(runset.stat(k, 'score/alpha'))}" for k in table.groups]
    if any(runset.stat(k, "score/alpha").n for k in table.groups):
        table.notes.append(
            "U_sua = Hn + alpha [S - Hn]+, alpha fitted on the validation split (score/alpha): "
            + "; ".join(alphas)
        )
    return table


def _fmt_stat(stat: Stat, digits: int = 3) -> str:
    if stat.n == 0:
        return "–"
    text = _fmt(stat.mean, digits)
    return text + (f" ± {_fmt(stat.std, digits)}" if stat.n > 1 else "") + f" (n={stat.n})"


# --------------------------------------------------------------------------- table 2

_T2 = [
    (("Accuracy", "clean"), ["task/acc/clean", "rob/acc/clean"], 3),
    (("Accuracy", "perturbed"), ["task/acc/perturbed"], 3),
    (("Accuracy", "worst"), ["rob/acc/worst"], 3),
    (("ECE", "clean"), ["cal/ece/clean"], 3),
    (("ECE", "perturbed"), ["cal/ece/perturbed"], 3),
    (("E[[SUA]+]", ""), ["sua/mean_plus", "sua/mean_plus/clean"], 4),
    (("ASR", ""), ["rob/asr"], 3),
    (("Certificate", "R_worst"), ["cert/r_worst"], 3),
    (("Certificate", "bound"), ["cert/bound"], 3),
]


def objectives_table(runset: RunSet, seeds_min: int = 3) -> Table:
    """Table 2: SUA-TR vs baselines, one row per objective (per task / model / perturbation)."""
    groups = runset.groups
    has_asr = any("rob/asr" in r.metrics for r in runset.ok_runs)
    spec = [c for c in _T2 if has_asr or c[0][0] != "ASR"]
    table = Table(
        "table2_objectives",
        "Table 2: SUA-TR vs baselines (accuracy, calibration, misalignment, robustness, certificate)",
        ["task", "model", "perturbation", "objective"],
        [c[0] for c in spec],
        keep_index=("objective",),
    )
    for key, runs in groups.items():
        cells = [_stat_cell(runset, key, names, digits) for _, names, digits in spec]
        if all(c.empty for c in cells):
            continue
        table.rows.append(Row((key.data, key.model, key.perturbation, key.loss), cells, runs))
        table.groups.append(key)
    if not table.rows:
        table.empty_message = "No run has accuracy / calibration metrics (task/, cal/, rob/ keys)."
    table.notes = _common_notes(seeds_min) + [
        "Accuracy clean / perturbed: task/acc/*; worst: wrong on any view of the neighbourhood "
        "(rob/acc/worst). ECE: 15 equal-width bins. E[[SUA]+]: mean misalignment on clean inputs "
        "(sua/mean_plus). Certificate: worst-case risk R_worst and its flip-certificate bound.",
    ]
    if not has_asr:
        table.notes.append("ASR column left out: no run has rob/asr (no attack was evaluated).")
    runs = [r for k in table.groups for r in groups[k]]
    checked = [r for r in runs if {"cert/r_worst", "cert/bound"} <= r.metrics.keys()]
    bad = [r for r in checked if r.metrics["cert/r_worst"] > r.metrics["cert/bound"] + 1e-9]
    if bad:
        table.notes.append(
            "FLIP CERTIFICATE VIOLATED (R_worst > bound; only a bug can cause this) in: "
            + ", ".join(
                f"{runset.display(r.path)} ({_fmt(r.metrics['cert/r_worst'])} > {_fmt(r.metrics['cert/bound'])})"
                for r in bad
            )
        )
    elif checked:
        table.notes.append(f"Flip certificate R_worst ≤ bound holds in all {len(checked)} runs.")
    for cond, sua_keys in (
        ("clean", ("sua/mean_plus", "sua/mean_plus/clean")),
        ("perturbed", ("sua/mean_plus/perturbed",)),
    ):
        pairs = []
        for r in runs:
            ece = r.metrics.get(f"cal/ece/{cond}")
            sua = next((r.metrics[k] for k in sua_keys if k in r.metrics), None)
            if ece is not None and sua is not None and math.isfinite(ece) and math.isfinite(sua):
                pairs.append((ece, sua))
        corr = _pearson(*zip(*pairs, strict=True)) if len(pairs) >= 3 else math.nan
        if math.isfinite(corr):
            table.notes.append(
                f"Correlation of ECE ({cond}) with E[[SUA]+] ({cond}) across {len(pairs)} runs: Pearson r = {corr:.3f}."
            )
    return table


# --------------------------------------------------------------------------- table 3


def ambiguity_table(runset: RunSet, seeds_min: int = 3) -> Table:
    """Table 3: ambiguity collapse per task / model / objective (and amb/ variant, if any)."""
    groups = runset.groups
    present: dict[GroupKey, set[tuple[str, str]]] = {}
    for key, runs in groups.items():
        for run in runs:
            for name in run.metrics:
                m = _AMB_KEY.match(name)
                if m:
                    present.setdefault(key, set()).add((m.group(1), m.group(2) or ""))
    metrics = _order({m for s in present.values() for m, _ in s}, list(AMB_METRICS)) or list(AMB_METRICS)
    table = Table(
        "table3_ambiguity",
        "Table 3: Ambiguity collapse (collapse rate, mass on the valid set, JS to the human distribution)",
        ["task", "model", "perturbation", "objective", "subset"],
        [(AMB_METRICS[m],) for m in metrics],
        keep_index=("objective",),
    )
    for key in groups:
        if key not in present:
            continue
        for subset in sorted({v for _, v in present[key]}):
            names = [f"amb/{m}/{subset}" if subset else f"amb/{m}" for m in metrics]
            cells = [_stat_cell(runset, key, n) for n in names]
            table.rows.append(
                Row((key.data, key.model, key.perturbation, key.loss, subset or "all"), cells, groups[key])
            )
        table.groups.append(key)
    if not table.rows:
        table.empty_message = (
            f"No ambiguity results: none of the {len(runset.ok_runs)} usable runs has amb/ keys "
            "(amb/collapse_rate, amb/mass_on_valid, amb/js_to_human, amb/entropy_gap). Run the "
            "ambiguity evaluation (BBQ ambiguous, multiemo ambivalent, mixtures, disambiguation_qa)."
        )
    table.notes = _common_notes(seeds_min) + [
        "Collapse: the model puts at least tau_c of its mass on one answer of an ambiguous input. "
        "Collapse rate and JS to human: lower is better; mass on valid set: higher is better. "
        "Entropy gap: model entropy minus the entropy of the valid/human distribution.",
    ]
    return table


# --------------------------------------------------------------------------- table 4


def _level(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def abstention_table(runset: RunSet, seeds_min: int = 3) -> Table:
    """Table 4: per score and condition, risk@coverage, coverage@risk, AURC, and the fitted
    abstention rule's realized risk and coverage against its target alpha (on the row of the
    score the rule thresholds)."""
    groups = runset.groups
    risk_levels: set[str] = set()
    cov_levels: set[str] = set()
    conds: set[str] = set()
    abstain_conds: set[str] = set()
    scores: set[str] = set()
    for run in runset.ok_runs:
        for name in run.metrics:
            m = _SC_KEY.match(name)
            if m:
                (risk_levels if m.group(1) == "risk" else cov_levels).add(m.group(2))
                scores.add(m.group(3))
                conds.add(m.group(4) or "clean")
            m = _ABSTAIN_KEY.match(name)
            if m:
                abstain_conds.add(m.group(2))
            m = _FD_KEY.match(name)
            if m and m.group(1) == "aurc":
                scores.add(m.group(2))
                conds.add(m.group(3) or "clean")
    spec: list[tuple[str, str]] = [("risk", lv) for lv in sorted(risk_levels, key=_level)]
    spec += [("cov", lv) for lv in sorted(cov_levels, key=_level)]
    spec.append(("aurc", ""))
    columns = [(f"{kind}@{lv}",) for kind, lv in spec[:-1]] + [("AURC",)]
    if abstain_conds:
        abstain_cols = [
            ("target_alpha", "target α"),
            ("risk", "abstain risk"),
            ("coverage", "abstain coverage"),
            ("risk_violated", "risk > α"),
        ]
        spec += [("abstain/" + kind, "") for kind, _ in abstain_cols]
        columns += [(label,) for _, label in abstain_cols]
    table = Table(
        "table4_abstention",
        "Table 4: Abstention (risk@coverage, coverage@risk, realized risk vs target, AURC) per score",
        ["task", "model", "perturbation", "objective", "score", "condition"],
        columns,
        keep_index=("score", "condition"),
    )
    deltas: set[str] = set()
    for key, runs in groups.items():
        abstain_score = Counter(r.abstain_score or "u_sua" for r in runs).most_common(1)[0][0]
        for score in _order(scores, SCORES):
            for cond in _order(conds | abstain_conds, CONDITIONS):
                cells = []
                for kind, lv in spec:
                    if kind.startswith("abstain/"):
                        name = f"{kind}/{cond}"
                        if score != abstain_score:
                            cells.append(Cell(text=""))
                        elif kind == "abstain/risk_violated":
                            flags = [
                                r.metrics[name] for r in runs if math.isfinite(r.metrics.get(name, math.nan))
                            ]
                            cells.append(
                                Cell(text=f"{sum(f > 0 for f in flags)}/{len(flags)}" if flags else "–")
                            )
                        else:
                            cells.append(Cell(runset.stat(key, name), plain=kind == "abstain/target_alpha"))
                        continue
                    if kind == "aurc":
                        names = [f"fd/aurc/{score}/{cond}"] + (
                            [f"fd/aurc/{score}"] if cond == "clean" else []
                        )
                        cells.append(_stat_cell(runset, key, names, 4))
                    else:
                        names = [f"sc/{kind}@{lv}/{score}/{cond}"]
                        names += [f"sc/{kind}@{lv}/{score}"] if cond == "clean" else []
                        cells.append(_stat_cell(runset, key, names))
                if all(c.empty or c.text == "" for c in cells):
                    continue
                index = (key.data, key.model, key.perturbation, key.loss, score, cond)
                table.rows.append(Row(index, cells, runs))
                if score == abstain_score:
                    delta = runset.stat(key, f"abstain/delta/{cond}")
                    if delta.n:
                        deltas.add(_plain(delta.mean))
        if any(r.index[:4] == (key.data, key.model, key.perturbation, key.loss) for r in table.rows):
            table.groups.append(key)
    if not table.rows:
        table.empty_message = "No run has selective-prediction metrics (sc/ or fd/aurc keys)."
    table.notes = _common_notes(seeds_min) + [
        "risk@c: selective risk at coverage c (lower is better); cov@r: largest coverage with "
        "selective risk ≤ r (higher is better); AURC: area under the risk-coverage curve (lower is better).",
    ]
    if abstain_conds:
        table.notes.append(
            "Abstention columns (on the row of the score the rule thresholds, abstain.score): the rule is "
            "fitted on the calibration split to keep selective risk ≤ target α with probability ≥ 1 - δ"
            + (f" (δ = {', '.join(sorted(deltas))})" if deltas else "")
            + "; abstain risk / coverage are realized on the test split; 'risk > α' counts the seeds "
            "whose realized risk exceeds α (expected in at most a δ fraction of seeds where the "
            "condition matches the calibration data)."
        )
    return table


def _plain(x: float) -> str:
    return f"{round(x, 4):g}"


def build_tables(
    runset: RunSet, seeds_min: int = 3, table1_metrics: Sequence[str] = ("auroc", "prr", "aurc")
) -> list[Table]:
    return [
        failure_detection_table(runset, seeds_min, table1_metrics),
        objectives_table(runset, seeds_min),
        ambiguity_table(runset, seeds_min),
        abstention_table(runset, seeds_min),
    ]
