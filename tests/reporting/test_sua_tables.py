"""`sua-tables` on fake-but-structurally-real run dirs: hand-computed aggregates, n per cell,
failed runs listed, every table in every format, both figures, the HTML report."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from pathlib import Path

import pytest
from reporting.fake_runs import ACC_CLEAN, ASR, AUROC_U_SUA, ECE_CLEAN, make_multirun, metrics_for, write_run

from sua_exp.reporting import build_report
from sua_exp.reporting.runs import Stat, collect_runs, objective_name

TABLES = ("table1_failure_detection", "table2_objectives", "table3_ambiguity", "table4_abstention")
FIGURES = ("figure1_s_vs_hn.png", "figure2_risk_coverage.png")
T1_ROW = {"model": "tiny", "perturbation": "default"}
T2_ROW = {"task": "sarcasm", "model": "tiny", "perturbation": "default"}


def _by_hand(values) -> tuple[float, float, int]:
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values), len(values)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    make_multirun(root / "multirun")
    return build_report(root / "multirun", root / "tables", seeds_min=3, base_dir=root)


def _check(cell, values) -> None:
    mean, std, n = _by_hand(values)
    assert cell.stat.n == n
    assert cell.stat.mean == pytest.approx(mean, abs=1e-12)
    assert cell.stat.std == pytest.approx(std, abs=1e-12)


def test_table1_mean_std_n_by_hand(report):
    t1 = report.table("table1")
    for loss in ("ce", "sua_tr"):
        row = {**T1_ROW, "objective": loss, "score": "u_sua"}
        _check(t1.cell(row, ("sarcasm", "clean", "AUROC")), AUROC_U_SUA[loss].values())
        _check(
            t1.cell(row, ("sarcasm", "perturbed", "AUROC")), [v - 0.05 for v in AUROC_U_SUA[loss].values()]
        )
        _check(t1.cell(row, ("sarcasm", "worst", "PRR")), [v - 0.2 for v in AUROC_U_SUA[loss].values()])
        assert t1.cell(row, ("Cost", "", "")).stat.mean == 5.0
        assert t1.cell({**row, "score": "msp"}, ("Cost", "", "")).stat.mean == 1.0
    assert t1.cell(
        {**T1_ROW, "objective": "ce", "score": "u_sua"}, ("sarcasm", "clean", "AUROC")
    ).stat.seeds == (1, 2, 3)
    md = (report.output_dir / "table1_failure_detection.md").read_text()
    assert "| CE | U_sua | 0.720 ± 0.020 |" in md and "| SUA-TR | U_sua | 0.830 ± 0.030 |" in md


def test_table2_rows_per_objective_and_marked_cells(report):
    t2 = report.table("table2")
    assert [r.index[-1] for r in t2.rows] == ["ce", "sua_tr"]  # paper order
    for loss in ("ce", "sua_tr"):
        row = {**T2_ROW, "objective": loss}
        _check(t2.cell(row, ("Accuracy", "clean")), ACC_CLEAN[loss].values())
        _check(t2.cell(row, ("ECE", "clean")), ECE_CLEAN[loss].values())
        assert t2.cell(row, ("Certificate", "bound")).stat.mean == pytest.approx(0.25)
    asr = t2.cell({**T2_ROW, "objective": "sua_tr"}, ("ASR", ""))
    _check(asr, ASR["sua_tr"].values())  # n = 2 < seeds_min
    assert t2.cell({**T2_ROW, "objective": "ce"}, ("ASR", "")).stat.n == 0
    md = (report.output_dir / "table2_objectives.md").read_text()
    assert "0.350 ± 0.071 (n=2)†" in md  # fewer than seeds_min seeds: marked, n given
    assert "| SUA-TR | 0.910 ± 0.026 |" in md
    assert "R_worst ≤ bound holds in all 6 runs" in md
    tex = (report.output_dir / "table2_objectives.tex").read_text()
    assert "0.350 $\\pm$ 0.071 (n=2)$^{\\dagger}$" in tex
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex


def test_csv_has_mean_std_n_columns(report):
    with open(report.output_dir / "table2_objectives.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["objective"] for r in rows] == ["ce", "sua_tr"]
    sua = rows[1]
    mean, std, n = _by_hand(ACC_CLEAN["sua_tr"].values())
    assert float(sua["Accuracy / clean"]) == pytest.approx(mean)
    assert float(sua["Accuracy / clean std"]) == pytest.approx(std)
    assert sua["Accuracy / clean n"] == "3" and sua["ASR n"] == "2" and rows[0]["ASR n"] == "0"
    assert sua["seeds"] == "1;2;3" and len(sua["runs"].split(";")) == 3


def test_table4_abstention_on_the_rule_score(report):
    t4 = report.table("table4")
    row = {**T2_ROW, "objective": "ce", "score": "u_sua", "condition": "clean"}
    _check(t4.cell(row, "abstain risk"), [0.08 + s / 100 for s in (1, 2, 3)])
    assert t4.cell(row, "target α").stat.mean == pytest.approx(0.1)
    assert t4.cell(row, "risk > α").text == "1/3"
    _check(t4.cell(row, "risk@0.8"), [0.04 + s / 100 for s in (1, 2, 3)])
    assert t4.cell({**row, "score": "msp"}, "abstain risk").text == ""  # the rule thresholds u_sua only


def test_failed_run_listed_not_fatal(report):
    for name in TABLES:
        for suffix in (".md", ".tex"):
            text = (report.output_dir / f"{name}{suffix}").read_text()
            assert "multirun/6" in text and "no metrics.json" in text, (name, suffix)
    with open(report.output_dir / "runs.csv", newline="") as fh:
        status = {r["run_dir"]: r["status"] for r in csv.DictReader(fh)}
    assert status["multirun/6"] == "failed"
    assert sum(s == "ok" for s in status.values()) == 6
    assert "multirun/6" in report.html.read_text()


def test_every_table_format_figure_and_html(report):
    out = report.output_dir
    for name in TABLES:
        for suffix in (".md", ".tex", ".csv"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
    for fig in FIGURES:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = report.html.read_text()
    assert report.html == out / "index.html"
    for name in TABLES:
        for suffix in (".md", ".tex", ".csv"):
            assert f'href="{name}{suffix}"' in html
    for fig in FIGURES:
        assert f"href='{fig}'" in html
    assert html.count("data:image/png;base64,") == 2
    assert "<table>" in html and "0.720 ± 0.020" in html
    # sources: every used run dir is named in every table
    md = (out / "table1_failure_detection.md").read_text()
    assert all(f"multirun/{j}" in md for j in range(6))


def test_table3_says_so_when_no_amb_keys(report):
    t3 = report.table("table3")
    assert not t3.rows and "No ambiguity results" in t3.empty_message
    assert "No ambiguity results" in (report.output_dir / "table3_ambiguity.md").read_text()
    assert "No ambiguity results" in (report.output_dir / "table3_ambiguity.tex").read_text()


def test_table3_with_amb_keys(tmp_path):
    values = {1: 0.5, 2: 0.6, 3: 0.7}
    for seed, v in values.items():
        m = metrics_for("ce", seed) | {"amb/collapse_rate": v, "amb/mass_on_valid": 1 - v}
        write_run(tmp_path / "runs" / f"s{seed}", "ce", seed, m, data="bbq", per_example=False)
    rep = build_report(tmp_path / "runs", tmp_path / "out", formats=["md"], figures=False, html=False)
    t3 = rep.table("table3")
    row = {"task": "bbq", "objective": "ce", "subset": "all"}
    _check(t3.cell(row, ("Collapse rate",)), values.values())
    _check(t3.cell(row, ("Mass on valid set",)), [1 - v for v in values.values()])
    assert ("JS to human",) not in t3.columns  # only the amb/ metrics some run has
    assert not (tmp_path / "out" / "table3_ambiguity.csv").exists()  # only the formats asked for


def test_discovery_globs_missing_duplicates_and_foreign_dirs(tmp_path):
    base = tmp_path
    for seed in (1, 2):
        write_run(base / "a" / f"r{seed}", "ce", seed, metrics_for("ce", seed))
    # a rerun of seed 2 (newer metrics.json): used instead of the old one, which is listed
    rerun = write_run(base / "b" / "r2", "ce", 2, metrics_for("ce", 2) | {"task/acc/clean": 0.5})
    old = base / "a" / "r2" / "metrics.json"
    os.utime(old, (1_000_000, 1_000_000))
    # a sua-tables run dir (no data section): not an experiment run, skipped silently
    (base / "a" / "tables_run" / ".hydra").mkdir(parents=True)
    (base / "a" / "tables_run" / ".hydra" / "config.yaml").write_text("task_name: tables\nruns: x\n")
    rs = collect_runs(["a/*", "b", "nope", "zz*"], base_dir=base)
    assert sorted(r.path.name for r in rs.ok_runs) == ["r1", "r2"]
    assert any(r.status == "superseded" and r.path == (base / "a" / "r2").resolve() for r in rs.runs)
    assert rs.stat(next(iter(rs.groups)), "task/acc/clean").mean == pytest.approx((0.90 + 0.5) / 2)
    reasons = {p.where: p.reason for p in rs.problems}
    assert "missing" in reasons["nope"] and "matched" in reasons["zz*"]
    assert "b/r2" in reasons["a/r2"]  # listed, naming the run used instead
    assert rerun.name == "r2"


def test_multirun_gap_is_listed(tmp_path):
    root = tmp_path / "mr"
    root.mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    write_run(root / "0", "ce", 1, metrics_for("ce", 1))
    write_run(root / "2", "ce", 3, metrics_for("ce", 3))
    rs = collect_runs(root)
    gaps = [p.where for p in rs.problems if "job" in p.reason]
    assert len(gaps) == 1 and gaps[0].endswith("mr/1")


def test_objective_without_hydra_yaml(tmp_path):
    assert (
        objective_name({"_target_": "sua_exp.objectives.SUATR", "lambda_c": 1.0, "lambda_e": 0.0})
        == "consistency"
    )
    assert (
        objective_name({"_target_": "sua_exp.objectives.SUATR", "lambda_c": 0.0, "lambda_e": 1.0})
        == "entropy_align"
    )
    assert objective_name({"_target_": "sua_exp.objectives.SUATR", "lambda_c": 1, "lambda_e": 1}) == "sua_tr"
    ts = {"_target_": "sua_exp.objectives.CrossEntropy", "post_hoc": "temperature"}
    assert objective_name(ts) == "temperature_scaling"
    assert objective_name({"_target_": "sua_exp.objectives.RDrop"}, choice="rdrop_big") == "rdrop_big"
    write_run(tmp_path / "r", "ce", 7, metrics_for("ce", 1), hydra_yaml=False, per_example=False)
    (run,) = collect_runs(tmp_path).ok_runs
    assert run.key.loss == "ce" and run.seed == 7


def test_stat_ignores_non_finite_and_single_seed():
    two = Stat.of([(1, 0.5), (2, math.nan), (3, 0.7), (4, None)])
    assert (two.n, two.seeds) == (2, (1, 3))
    assert two.mean == pytest.approx(0.6) and two.std == pytest.approx(math.sqrt(0.02))
    one = Stat.of([(1, 0.5)])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std)
    assert Stat.of([]).n == 0


def test_metrics_null_is_nan_not_counted(tmp_path):
    for seed in (1, 2, 3):
        m = metrics_for("ce", seed)
        m["cal/ece/clean"] = None if seed == 3 else m["cal/ece/clean"]  # NaN written as null
        write_run(tmp_path / f"r{seed}", "ce", seed, m, per_example=False)
    rep = build_report(tmp_path, tmp_path / "out", figures=False, html=False)
    cell = rep.table("table2").cell({"objective": "ce"}, ("ECE", "clean"))
    _check(cell, [ECE_CLEAN["ce"][1], ECE_CLEAN["ce"][2]])


def test_bad_formats_and_seeds_min_fail_with_key(tmp_path):
    with pytest.raises(ValueError, match="formats"):
        build_report(tmp_path, tmp_path / "o", formats=["docx"])
    with pytest.raises(ValueError, match="seeds_min"):
        build_report(tmp_path, tmp_path / "o", seeds_min=0)


def test_hydra_entry_point(tmp_path):
    from helpers import compose_config

    from sua_exp.tables import make_tables

    make_multirun(tmp_path / "mr")
    cfg = compose_config(
        "tables",
        [
            f"runs=['{tmp_path / 'mr' / '[0-2]'}','{tmp_path / 'missing'}']",
            "formats=[md,csv]",
            "figures.enabled=false",
        ],
        output_dir=tmp_path / "out",
    )
    rep = make_tables(cfg)
    assert rep.output_dir == (tmp_path / "out").resolve()
    assert (tmp_path / "out" / "table2_objectives.csv").is_file()
    assert not (tmp_path / "out" / "table2_objectives.tex").exists()
    assert [r.index[-1] for r in rep.table("table2").rows] == ["ce"]
    assert rep.table("table2").rows[0].cells[0].stat.n == 3
    assert any("missing" in p.where for p in rep.runset.problems)
    assert (tmp_path / "out" / "index.html").is_file()


REAL_RUN = Path(__file__).resolve().parents[2] / "outputs" / "train" / "runs" / "2026-12-04_20-28-08"


@pytest.mark.skipif(not (REAL_RUN / "metrics.json").is_file(), reason="real MiniLM run dir not present")
def test_real_run_dir(tmp_path):
    rep = build_report(REAL_RUN, tmp_path)
    metrics = json.loads((REAL_RUN / "metrics.json").read_text())
    t1 = rep.table("table1")
    cell = t1.cell({"score": "u_sua"}, ("sarcasm", "clean", "AUROC"))
    assert cell.stat.n == 1 and cell.stat.mean == pytest.approx(metrics["fd/auroc/u_sua/clean"])
    t2 = rep.table("table2")
    assert t2.cell({"objective": "ce"}, ("Accuracy", "clean")).stat.mean == pytest.approx(
        metrics["task/acc/clean"]
    )
    assert "(n=1)†" in (tmp_path / "table1_failure_detection.md").read_text()
    for name in TABLES:
        for suffix in (".md", ".tex", ".csv"):
            assert (tmp_path / f"{name}{suffix}").is_file()
    assert all((tmp_path / f).is_file() for f in FIGURES) and rep.html.is_file()
