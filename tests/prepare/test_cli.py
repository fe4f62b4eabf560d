"""sua-prepare without the network: argument parsing, sha256 checks, fetch, and a build from small
synthetic archives (the real archives are exercised by the `slow` test in test_slow_prepare.py)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from sua_exp.data.sources import project_root
from sua_exp.prepare import _build_data as bd
from sua_exp.prepare import cli, sources
from sua_exp.prepare.build import (
    OUTPUTS,
    WORDNET_FILES,
    build,
    read_manifest,
    remove_stale_temporaries,
    select_outputs,
    up_to_date,
)
from sua_exp.prepare.sources import ARCHIVES, Archive, PrepareError, fetch
from sua_exp.utils.archives import Sha256Mismatch


# --------------------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------------------
def test_defaults_follow_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv("SUA_DATA_DIR", raising=False)
    monkeypatch.delenv("SUA_MODELS_DIR", raising=False)
    monkeypatch.setenv("SUA_CACHE_DIR", str(tmp_path / "cache"))
    args = cli.parse_args([])
    assert args.out == project_root() / "data"
    assert args.src == tmp_path / "cache" / "archives"
    assert args.models_dir == tmp_path / "cache" / "weights"
    assert [o.name for o in args.outputs] == list(OUTPUTS)
    assert args.data and not args.models and not args.force

    monkeypatch.setenv("SUA_DATA_DIR", str(tmp_path / "d"))
    assert cli.parse_args([]).out == tmp_path / "d"
    args = cli.parse_args(["--out", str(tmp_path / "o"), "--src", str(tmp_path / "s"), "--force"])
    assert (args.out, args.src, args.force) == (tmp_path / "o", tmp_path / "s", True)


def test_home_cache_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SUA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cli.parse_args([]).src == Path.home() / ".cache" / "sua_exp" / "archives"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.parse_args([]).src == tmp_path / "sua_exp" / "archives"


@pytest.mark.parametrize(
    "only, expected",
    [
        (["sarcasm_headlines,wordnet"], ["sarcasm_headlines", "wordnet"]),
        (["wordnet", "--only", "bbq mmlu_1k"], ["bbq", "mmlu_1k", "wordnet"]),  # build order, repeatable
        (["qa_extractive"], ["squad_v1_dev", "squadshifts_new_wiki", "disfl_qa"]),
        (["classification/vitaminc.jsonl"], ["vitaminc"]),
        (["spelling_en.txt"], ["nlpaug"]),
        (["lexicon"], ["wordnet", "nlpaug"]),
    ],
)
def test_only_selects_outputs(only, expected):
    args = cli.parse_args(["--only", *only])
    assert [o.name for o in args.outputs] == expected
    assert args.data and not args.models


def test_only_models_means_models_without_data():
    args = cli.parse_args(["--only", "models"])
    assert args.models and not args.data and args.outputs == []
    args = cli.parse_args(["--only", "models,bbq"])
    assert args.models and args.data and [o.name for o in args.outputs] == ["bbq"]


def test_unknown_only_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--only", "sarcasm,bbq"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown name 'sarcasm'" in err and "sarcasm_headlines" in err


def test_every_output_needs_known_archives():
    assert {k for o in OUTPUTS.values() for k in o.archives} == set(ARCHIVES)
    assert select_outputs(["all"]) == list(OUTPUTS.values())


# --------------------------------------------------------------------------------------
# archives: sha256 checks and fetching
# --------------------------------------------------------------------------------------
def _fake_archive(tmp_path: Path, content: bytes, kind: str = "wheel") -> Archive:
    return Archive(
        "fake", "fake/fake-1.0-py3-none-any.whl", hashlib.sha256(content).hexdigest(), kind, "fake==1.0", 0.1
    )


def test_cached_archive_with_wrong_hash_is_a_one_line_error(tmp_path, capsys):
    src = tmp_path / "src"
    bad = src / ARCHIVES["nlpaug"].rel
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the wheel")
    rc = cli.main(["--out", str(tmp_path / "out"), "--src", str(src), "--only", "nlpaug", "--no-download"])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad) in err
    assert "expected " + ARCHIVES["nlpaug"].sha256 in err
    assert "got " + hashlib.sha256(b"not the wheel").hexdigest() in err
    assert not (tmp_path / "out" / "lexicon").exists()


def test_missing_archive_without_download_says_how_to_get_it(tmp_path, capsys):
    rc = cli.main(
        ["--out", str(tmp_path / "out"), "--src", str(tmp_path / "src"), "--only", "bbq", "--no-download"]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bigbench-1.0.0.tar.gz" in err and "pip download --no-deps --no-binary :all:" in err


def test_fetch_downloads_verifies_and_caches(tmp_path, monkeypatch):
    content = b"wheel bytes"
    arch = _fake_archive(tmp_path, content)
    calls = []

    def fake_pip(archive, tmp, src):
        calls.append(archive.spec)
        got = tmp / archive.filename
        got.write_bytes(served[0])
        return got

    monkeypatch.setattr(sources, "_pip_download", fake_pip)
    served = [content]
    path = fetch(arch, tmp_path / "src")
    assert path.read_bytes() == content and calls == ["fake==1.0"]
    assert fetch(arch, tmp_path / "src") == path and len(calls) == 1  # cached: no second download

    path.write_bytes(b"corrupted")
    with pytest.raises(Sha256Mismatch, match="expected " + arch.sha256):
        fetch(arch, tmp_path / "src")
    assert fetch(arch, tmp_path / "src", force=True).read_bytes() == content  # --force downloads again
    assert len(calls) == 2

    path.unlink()
    served[0] = b"something else"  # the registry serves another file: refused, nothing cached
    with pytest.raises(PrepareError, match="sha256 mismatch: expected " + arch.sha256):
        fetch(arch, tmp_path / "src")
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == []  # no temporary download folder left


def test_pip_download_command_is_hash_pinned(tmp_path, monkeypatch):
    seen = []

    def fake_run(cmd, cwd=None):
        seen.append(cmd)

        class P:
            returncode, stdout, stderr = 1, "", "boom"

        return P()

    monkeypatch.setattr(sources, "_run", fake_run)
    monkeypatch.setattr(sources, "_pip_major", lambda pip: 25)
    with pytest.raises(PrepareError, match="pip download evals==3.0.1.post1.*failed"):
        sources._pip_download(ARCHIVES["evals"], tmp_path, tmp_path)
    cmd = seen[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "--require-hashes" in cmd
    assert cmd[cmd.index("--only-binary") + 1] == ":all:"
    req = Path(cmd[cmd.index("-r") + 1]).read_text()
    assert req == f"evals==3.0.1.post1 --hash=sha256:{ARCHIVES['evals'].sha256}\n"
    seen.clear()
    with pytest.raises(PrepareError):
        sources._pip_download(ARCHIVES["bigbench"], tmp_path, tmp_path)
    assert seen[0][seen[0].index("--no-binary") + 1] == ":all:"


def test_missing_apt_get_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(PrepareError) as exc:
        sources._apt_download(ARCHIVES["wordnet"], tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and "apt-get not found" in msg and "apt-get download wordnet-base=1:3.0-37" in msg


# --------------------------------------------------------------------------------------
# building from synthetic archives (same member layout as the real ones)
# --------------------------------------------------------------------------------------
@pytest.fixture
def synthetic(tmp_path, make):
    """Fake nlpaug wheel and wordnet .deb in an archive folder, pinned by their own hashes."""
    src = tmp_path / "src"
    nl = src / ARCHIVES["nlpaug"].rel
    wn = src / ARCHIVES["wordnet"].rel
    nl.parent.mkdir(parents=True)
    wn.parent.mkdir(parents=True)
    nl.write_bytes(
        make.zip(
            [
                ("nlpaug/res/char/keyboard/en.json", json.dumps({"a": ["s", "q"], "b": ["v"]}).encode()),
                ("nlpaug/res/word/spelling/spelling_en.txt", b"word wrod\nthe teh hte\n"),
                ("nlpaug-1.1.11.dist-info/LICENSE", b"MIT License\n"),
                ("nlpaug/__init__.py", b""),
            ]
        )
    )
    wn_members = [
        (f"./usr/share/wordnet/{n}", f"{n} data\n".encode()) for n in WORDNET_FILES if n != "COPYRIGHT"
    ]
    wn_members += [
        ("./usr/share/wordnet/cntlist.rev", b"not copied\n"),
        ("./usr/share/doc/wordnet-base/copyright", b"WordNet 3.0 license\n"),
    ]
    wn.write_bytes(make.deb(wn_members))
    pinned = {
        k: Archive(**{**ARCHIVES[k].__dict__, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
        for k, p in [("nlpaug", nl), ("wordnet", wn)]
    }
    return src, pinned


def test_cli_builds_lexicons_from_archives_and_is_idempotent(tmp_path, synthetic, monkeypatch, capsys):
    src, pinned = synthetic
    monkeypatch.setitem(cli.ARCHIVES, "nlpaug", pinned["nlpaug"])
    monkeypatch.setitem(cli.ARCHIVES, "wordnet", pinned["wordnet"])
    out = tmp_path / "data"
    argv = ["--out", str(out), "--src", str(src), "--only", "lexicon", "--no-download"]
    assert cli.main(argv) == 0
    assert (out / "lexicon/wordnet/data.noun").read_bytes() == b"data.noun data\n"
    assert (out / "lexicon/wordnet/COPYRIGHT").read_bytes() == b"WordNet 3.0 license\n"
    assert not (out / "lexicon/wordnet/cntlist.rev").exists()  # only the needed members
    assert json.loads((out / "lexicon/keyboard_en.json").read_text()) == {"a": ["s", "q"], "b": ["v"]}
    assert "MIT License" in (out / "lexicon/NOTICE_nlpaug.md").read_text()
    manifest = read_manifest(out)
    assert set(manifest) == {*OUTPUTS["wordnet"].files, *OUTPUTS["nlpaug"].files}
    assert not list(out.rglob(".*"))  # no temporary files
    capsys.readouterr()

    assert cli.main(argv) == 0  # second run: nothing to do
    assert "up to date" in capsys.readouterr().out
    (out / "lexicon/spelling_en.txt").write_text("tampered\n")
    assert [o.name for o in up_to_date(out, [OUTPUTS["wordnet"], OUTPUTS["nlpaug"]])] == ["wordnet"]
    assert cli.main(argv) == 0  # rebuilds the changed output only
    assert (out / "lexicon/spelling_en.txt").read_bytes() == b"word wrod\nthe teh hte\n"


def test_interrupted_build_leaves_only_complete_files(tmp_path, synthetic, monkeypatch):
    src, _ = synthetic
    out = tmp_path / "data"
    paths = {"nlpaug": src / ARCHIVES["nlpaug"].rel, "wordnet": src / ARCHIVES["wordnet"].rel}

    def killed(tree, path):
        with bd.atomic_writer(Path(tree.root) / "lexicon" / "keyboard_en.json", "wb") as fh:
            fh.write(b'{"a": [')
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a file

    monkeypatch.setattr(bd, "build_nlpaug", killed)
    with pytest.raises(KeyboardInterrupt):
        build(out, paths, [OUTPUTS["wordnet"], OUTPUTS["nlpaug"]])
    assert (out / "lexicon/wordnet/index.verb").read_bytes() == b"index.verb data\n"  # finished before
    assert not (out / "lexicon/keyboard_en.json").exists()  # never a truncated file
    assert not list(out.rglob(".*.tmp"))
    assert not (out / "MANIFEST.sha256").exists()  # so a rerun rebuilds what is missing
    assert up_to_date(out, [OUTPUTS["wordnet"]]) == []


def test_refuses_to_write_into_an_unrelated_folder(tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    rc = cli.main(["--out", str(out), "--src", str(tmp_path / "src"), "--only", "bbq", "--no-download"])
    assert rc == 1
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_never_writes_into_a_read_only_reference_folder(tmp_path, synthetic, monkeypatch, capsys):
    """A folder kept read-only (like shared/data) is refused even with --force (root could write it)."""
    src, pinned = synthetic
    monkeypatch.setitem(cli.ARCHIVES, "nlpaug", pinned["nlpaug"])
    ref = tmp_path / "shared_data"
    (ref / "lexicon").mkdir(parents=True)
    (ref / "lexicon/keyboard_en.json").write_text("{}")
    (ref / "MANIFEST.sha256").write_text("")
    for p in [ref / "lexicon/keyboard_en.json", ref / "MANIFEST.sha256"]:
        p.chmod(0o444)
    before = {p: p.read_bytes() for p in ref.rglob("*") if p.is_file()}
    rc = cli.main(["--out", str(ref), "--src", str(src), "--only", "nlpaug", "--force", "--no-download"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "keyboard_en.json" in err
    assert {p: p.read_bytes() for p in ref.rglob("*") if p.is_file()} == before


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    out = tmp_path / "data"
    (out / "qa_mc").mkdir(parents=True)
    old = out / "qa_mc" / ".bbq.jsonl.abc123.tmp"
    fresh = out / "qa_mc" / ".bbq.jsonl.def456.tmp"  # maybe another run writing right now
    keep = out / "qa_mc" / "bbq.jsonl"
    for p in (old, fresh, keep):
        p.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries(out) == 1
    assert not old.exists() and fresh.exists() and keep.exists()
