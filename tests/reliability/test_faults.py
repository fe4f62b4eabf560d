"""Fault injection: kill and resume, reruns, bad configs, NaN losses, atomic outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT, compose_config

TINY_RUN = [
    "experiment=smoke",
    "trainer.max_epochs=3",
    "data.max_train_samples=1500",
    "logger=csv",
    "score.mc_samples=0",
    "extras.print_config=false",
]


def _cmd(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sua_exp.train", *TINY_RUN, *extra, f"hydra.run.dir={run_dir}"]


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}


def _run(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        _cmd(run_dir, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_sigkill_midway_then_same_command_resumes_to_identical_metrics(tmp_path, data_dir):
    reference = tmp_path / "reference"
    _run(reference)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(killed), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the first checkpoint be written completely, then kill mid-training
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()

    resumed = _run(killed)  # the same command, no extra argument
    assert "resuming from" in resumed.stderr + resumed.stdout
    a, b = _metrics(reference), _metrics(killed)
    assert a.keys() == b.keys()
    assert a == b


def test_same_seed_twice_gives_identical_metrics_and_run_info(tmp_path, data_dir):
    first, second = tmp_path / "a", tmp_path / "b"
    _run(first, "trainer.max_epochs=1")
    _run(second, "trainer.max_epochs=1")
    assert _metrics(first) == _metrics(second)
    info = json.loads((first / "run_info.json").read_text())
    assert info["seed"] == 42 and info["packages"]["torch"] == torch.__version__
    assert "git_commit" in info


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("loss=sua_tr loss.lambda_c=-1", "loss.lambda_c"),
        ("loss=sua_tr loss.lambda_e=-0.5", "loss.lambda_e"),
        ("abstain=coverage abstain.target_coverage=1.5", "abstain.target_coverage"),
        ("abstain.alpha=0", "abstain.alpha"),
        ("abstain.delta=1", "abstain.delta"),
        ("score.num_views=0", "score.num_views"),
        ("score.divergence=wasserstein", "score.divergence"),
        ("score.aggregation=median", "score.aggregation"),
        ("abstain.score=confidence", "abstain.score"),
        ("loss=sua_tr loss.num_views=0", "loss.num_views"),
    ],
)
def test_bad_config_fails_before_training_naming_the_key(override, key, tmp_path, data_dir):
    from sua_exp.train import train

    cfg = compose_config("train", ["model=tiny", "logger=csv", *override.split()], output_dir=tmp_path)
    with pytest.raises(Exception, match=key.replace(".", r"\.")):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()  # nothing was trained


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    from sua_exp.objectives import CrossEntropy
    from sua_exp.train import train

    cfg = compose_config("train", [*TINY_RUN[:3], "trainer.max_epochs=3", "logger=csv"], output_dir=tmp_path)
    original = CrossEntropy.forward
    calls = {"n": 0}

    def poisoned(self, logits, labels, view_logits=None, **kw):
        calls["n"] += 1
        out = original(self, logits, labels, view_logits, **kw)
        if calls["n"] > 60:  # epoch 1 (47 steps) finishes cleanly, then the loss turns NaN
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(CrossEntropy, "forward", poisoned)
    with pytest.raises(FloatingPointError, match="non-finite training loss"):
        train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert not (tmp_path / "metrics.json").exists()


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    from sua_exp.utils.io import write_json_atomic, write_jsonl_atomic

    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"a": 1.0, "nan": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1.0, "nan": None}

    def rows():
        yield {"ok": 1}
        raise RuntimeError("disk full")

    target = tmp_path / "per_example.jsonl"
    write_jsonl_atomic(target, [{"old": True}])
    with pytest.raises(RuntimeError):
        write_jsonl_atomic(target, rows())
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "metrics.json",
        "per_example.jsonl",
    ]  # no temp leftovers


def test_checkpoints_load_weights_only(tmp_path):
    """A checkpoint that smuggles a pickled callable is refused, not executed."""
    from sua_exp.evaluate import load_net_weights

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        load_net_weights(torch.nn.Linear(2, 2), path)
    assert not (tmp_path / "pwned").exists()


def test_failed_sweep_job_keeps_other_jobs_and_is_reported(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    env = _env()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sua_exp.train",
            "-m",
            *TINY_RUN,
            "trainer.max_epochs=1",
            "score.num_views=2,0",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0 and "score.num_views must be >= 1" in proc.stderr
    assert (sweep / "0" / "metrics.json").is_file()  # the finished job is untouched
    assert not (sweep / "1" / "metrics.json").exists()
    out = tmp_path / "tables"
    rep = subprocess.run(
        [
            sys.executable,
            "-m",
            "sua_exp.tables",
            f"runs={sweep}",
            f"output_dir={out}",
            f"hydra.run.dir={tmp_path / 'tables_run'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rep.returncode == 0, rep.stderr[-2000:]
    table = (out / "table2_objectives.md").read_text()
    assert "Missing or failed runs" in table and str(sweep / "1") in table
