"""Run discovery, loading, grouping and seed aggregation for `sua-tables`.

A *run dir* is any folder holding `.hydra/config.yaml` (what `sua-train` / `sua-eval` write). Run
dirs are found recursively under the given folders (a single run, a multirun dir, `outputs/`), or
named directly / by glob. Each run is identified by its *group* (data, model, loss, perturbation)
and its seed; the seeds of a group are aggregated as mean +- sample std (ddof = 1) over the runs
whose metric is finite, with `n` the number of those runs.

* A run dir without `metrics.json` (or with an unreadable one) is a **failed** run: listed, never
  fatal.
* Folders whose config has no `data` section (for instance `sua-tables`' own run dirs) are not
  experiment runs and are skipped.
* Two finished runs of the same group and seed: the newest `metrics.json` is used, the other is
  listed as superseded (a rerun must not count twice).
* A numbered job folder missing from a multirun dir (0, 1, 3: job 2 has no dir) is listed as
  missing.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import yaml

log = logging.getLogger("sua_exp")

CONDITIONS = ("clean", "perturbed", "adversarial", "ambiguous", "worst")
SCORES = (
    "msp",
    "entropy",
    "margin",
    "self_consistency",
    "mutual_info",
    "sensitivity",
    "sua",
    "sua_plus",
    "u_sua",
)
OBJECTIVES = (
    "ce",
    "label_smoothing",
    "consistency",
    "entropy_align",
    "rdrop",
    "confidence_penalty",
    "temperature_scaling",
    "sua_tr",
)
OBJECTIVE_NAMES = {
    "ce": "CE",
    "label_smoothing": "Label smoothing",
    "consistency": "Consistency only",
    "entropy_align": "Entropy alignment only",
    "rdrop": "R-Drop",
    "confidence_penalty": "Confidence penalty",
    "temperature_scaling": "Temperature scaling",
    "sua_tr": "SUA-TR",
}
SCORE_NAMES = {
    "msp": "MSP",
    "entropy": "Entropy",
    "margin": "Margin",
    "self_consistency": "Self-consistency",
    "mutual_info": "MC-dropout MI",
    "sensitivity": "Sensitivity S",
    "sua": "SUA",
    "sua_plus": "[SUA]+",
    "u_sua": "U_sua",
}
# loss class name -> objective name, for runs without `.hydra/hydra.yaml` (no recorded choice)
_LOSS_CLASSES = {
    "CrossEntropy": "ce",
    "LabelSmoothing": "label_smoothing",
    "RDrop": "rdrop",
    "ConfidencePenalty": "confidence_penalty",
    "SUATR": "sua_tr",
}
_SKIP_DIRS = {"__pycache__", "checkpoints", "wandb", "csv", "tensorboard", "node_modules"}
_GLOB_CHARS = re.compile(r"[*?\[]")


class GroupKey(NamedTuple):
    """What a table cell aggregates over seeds: one experimental setting."""

    data: str
    model: str
    loss: str
    perturbation: str

    def label(self) -> str:
        return f"{self.data} / {self.model} / {self.loss} / {self.perturbation}"


@dataclass
class Run:
    """One run dir. `status`: ok (has metrics), failed (no/unreadable metrics.json), superseded."""

    path: Path
    status: str
    key: GroupKey | None = None
    seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    abstain_score: str | None = None
    mtime: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def per_example(self) -> Path:
        return self.path / "per_example.jsonl"


@dataclass
class Problem:
    """A missing or failed run, reported in every table instead of raising."""

    where: str
    reason: str
    key: GroupKey | None = None
    seed: int | None = None

    def describe(self) -> str:
        who = ""
        if self.key is not None:
            who = f" [{self.key.label()}" + (f", seed {self.seed}" if self.seed is not None else "") + "]"
        return f"{self.where}{who}: {self.reason}"


@dataclass(frozen=True)
class Stat:
    """Mean +- sample std over the seeds of a group; n = number of seeds with a finite value."""

    mean: float = math.nan
    std: float = math.nan
    n: int = 0
    seeds: tuple = ()

    @classmethod
    def of(cls, values: Iterable[tuple[Any, float]]) -> Stat:
        """`values`: (seed, value) pairs; non-finite values are left out (and so not counted)."""
        pairs = [(s, float(v)) for s, v in values if v is not None and math.isfinite(float(v))]
        if not pairs:
            return cls()
        xs = [v for _, v in pairs]
        n = len(xs)
        mean = math.fsum(xs) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
        return cls(mean, std, n, tuple(s for s, _ in pairs))


# --------------------------------------------------------------------------- discovery


def _is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file()


def _walk(top: Path) -> tuple[list[Path], list[Problem]]:
    """Run dirs under `top` (not descending into a run dir), and gaps in multirun job numbers."""
    found: list[Path] = []
    problems: list[Problem] = []
    for dirpath, dirnames, _ in os.walk(top):
        here = Path(dirpath)
        if _is_run_dir(here):
            found.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        if (here / "multirun.yaml").is_file():
            jobs = sorted(int(d) for d in dirnames if d.isdigit())
            for job in sorted(set(range(jobs[-1] + 1)) - set(jobs)) if jobs else []:
                problems.append(Problem(str(here / str(job)), "multirun job has no run dir (missing)"))
    return found, problems


def discover_run_dirs(
    runs: str | os.PathLike | Sequence[str | os.PathLike], base_dir: str | os.PathLike | None = None
) -> tuple[list[Path], list[Problem]]:
    """Resolve `runs` (a folder, a multirun dir, a run dir, or a list of dirs / globs) to run dirs.

    Relative entries are taken from `base_dir` (default: the current directory). Entries that do
    not exist or globs that match nothing are returned as problems, not raised.
    """
    entries = [runs] if isinstance(runs, str | os.PathLike) else list(runs)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    found: dict[Path, None] = {}
    problems: list[Problem] = []
    for entry in entries:
        text = os.path.expanduser(str(entry))
        pattern = text if os.path.isabs(text) else str(base / text)
        if _GLOB_CHARS.search(text):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isdir(p))
            if not matches:
                problems.append(Problem(str(entry), "glob matched no folder (missing)"))
        else:
            matches = [Path(pattern)]
            if not matches[0].is_dir():
                problems.append(Problem(str(entry), "no such folder (missing)"))
                continue
        for match in matches:
            dirs, gaps = _walk(match)
            problems.extend(gaps)
            for d in dirs:
                found.setdefault(d.resolve(), None)
            if not dirs and not gaps:
                problems.append(Problem(str(match), "no run dir (.hydra/config.yaml) under it (missing)"))
    return sorted(found), problems


# --------------------------------------------------------------------------- loading


def _load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data if isinstance(data, dict) else {}


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def _name(value: Any) -> str | None:
    """A config value usable as a label (no unresolved `${...}`)."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return None if not text or "${" in text else text


def objective_name(loss_cfg: Any, choice: Any = None) -> str:
    """The objective of a run: the `loss` choice recorded by Hydra, else read from the loss config."""
    if _name(choice):
        return str(choice)
    if not isinstance(loss_cfg, dict):
        return "n/a"
    target = str(loss_cfg.get("_target_", ""))
    cls = target.rsplit(".", 1)[-1]
    if loss_cfg.get("post_hoc") == "temperature":
        return "temperature_scaling"
    if cls == "SUATR":
        lc, le = loss_cfg.get("lambda_c", 1.0), loss_cfg.get("lambda_e", 1.0)
        if le == 0 and lc != 0:
            return "consistency"
        if lc == 0 and le != 0:
            return "entropy_align"
    return _LOSS_CLASSES.get(cls, cls or "n/a")


def _group_key(cfg: dict, choices: dict) -> GroupKey:
    data = _name(_get(cfg, "data.name")) or _name(choices.get("data")) or "?"
    pretrained = _name(_get(cfg, "model.net.pretrained"))
    model = Path(pretrained).name if pretrained else (_name(choices.get("model")) or "?")
    loss = objective_name(cfg.get("loss"), choices.get("loss"))
    pert = _name(choices.get("perturbation")) or _name(_get(cfg, "perturbation.name"))
    if pert is None:
        target = _name(_get(cfg, "perturbation._target_"))
        pert = target.rsplit(".", 1)[-1] if target else ("default" if cfg.get("perturbation") else "none")
    return GroupKey(data, model, loss, pert)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return math.nan  # write_json_atomic writes NaN as null
    if isinstance(value, str) and value.strip().lower() in ("inf", "-inf", "nan", "+inf"):
        return float(value)
    return None


def load_run(path: str | os.PathLike) -> Run | None:
    """Read one run dir; None when it is not an experiment run (its config has no `data`)."""
    path = Path(path)
    try:
        cfg = _load_yaml(path / ".hydra" / "config.yaml")
    except (OSError, yaml.YAMLError) as err:
        return Run(path, "failed", reason=f".hydra/config.yaml unreadable: {err}")
    if "data" not in cfg:
        return None
    choices: dict = {}
    hydra_file = path / ".hydra" / "hydra.yaml"
    if hydra_file.is_file():
        try:
            choices = _get(_load_yaml(hydra_file), "hydra.runtime.choices") or {}
        except (OSError, yaml.YAMLError):
            choices = {}
    key = _group_key(cfg, choices)
    seed = cfg.get("seed")
    if not isinstance(seed, int):
        try:
            seed = json.loads((path / "run_info.json").read_text(encoding="utf-8")).get("seed")
        except (OSError, ValueError):
            seed = None
    run = Run(path, "ok", key=key, seed=seed, abstain_score=_name(_get(cfg, "abstain.score")))
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        logs = sorted(p.name for p in path.glob("*.log"))
        run.status = "failed"
        run.reason = "no metrics.json (failed or unfinished run" + (
            f"; log: {', '.join(logs)})" if logs else ")"
        )
        return run
    try:
        raw = json.loads(metrics_file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        run.status = "failed"
        run.reason = f"metrics.json unreadable: {err}"
        return run
    run.metrics = {k: v for k, v in ((str(k), _as_float(v)) for k, v in raw.items()) if v is not None}
    run.mtime = metrics_file.stat().st_mtime
    return run


@dataclass
class RunSet:
    """All runs found, the usable ones grouped by setting, and the problems to report."""

    runs: list[Run]
    problems: list[Problem]
    base_dir: Path | None = None

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @cached_property
    def groups(self) -> dict[GroupKey, list[Run]]:
        out: dict[GroupKey, list[Run]] = defaultdict(list)
        for run in self.ok_runs:
            out[run.key].append(run)
        for runs in out.values():
            runs.sort(key=lambda r: (r.seed is None, r.seed if r.seed is not None else 0, str(r.path)))
        return dict(sorted(out.items(), key=lambda kv: sort_key(kv[0])))

    def display(self, path: Path) -> str:
        """A run dir as shown in tables: relative to the base dir when it lies under it."""
        for base in (self.base_dir, Path.cwd()):
            if base is None:
                continue
            try:
                return path.relative_to(Path(base).resolve()).as_posix() or "."
            except ValueError:
                continue
        return str(path)

    def stat(self, key: GroupKey, metric: str | Sequence[str]) -> Stat:
        """Seed aggregate of `metric` (first of the alternatives a run has) over `key`'s runs."""
        names = [metric] if isinstance(metric, str) else list(metric)
        pairs = []
        for run in self.groups.get(key, []):
            for name in names:
                if name in run.metrics:
                    pairs.append((run.seed, run.metrics[name]))
                    break
        return Stat.of(pairs)


def sort_key(key: GroupKey) -> tuple:
    loss_rank = OBJECTIVES.index(key.loss) if key.loss in OBJECTIVES else len(OBJECTIVES)
    return (key.data, key.model, key.perturbation, loss_rank, key.loss)


def collect_runs(
    runs: str | os.PathLike | Sequence[str | os.PathLike], base_dir: str | os.PathLike | None = None
) -> RunSet:
    """Discover and load every run; failed, superseded and missing runs become problems."""
    dirs, problems = discover_run_dirs(runs, base_dir)
    loaded = [r for r in (load_run(d) for d in dirs) if r is not None]
    base = Path(base_dir).resolve() if base_dir is not None else None
    runset = RunSet(loaded, problems, base)
    by_seed: dict[tuple, list[Run]] = defaultdict(list)
    for run in loaded:
        if run.ok:
            by_seed[(run.key, run.seed)].append(run)
    for (_key, seed), dupes in by_seed.items():
        if len(dupes) < 2 or seed is None:
            continue
        dupes.sort(key=lambda r: (r.mtime, str(r.path)))
        for old in dupes[:-1]:
            old.status = "superseded"
            old.reason = f"superseded: same group and seed as {runset.display(dupes[-1].path)} (newer metrics.json used)"
    for run in loaded:
        if not run.ok:
            problems.append(Problem(runset.display(run.path), run.reason, run.key, run.seed))
    for problem in problems:
        if os.path.isabs(problem.where):
            problem.where = runset.display(Path(problem.where))
    log.info(
        "sua-tables: %d run dirs (%d usable in %d groups), %d missing/failed",
        len(loaded),
        len(runset.ok_runs),
        len(runset.groups),
        len(problems),
    )
    return runset
