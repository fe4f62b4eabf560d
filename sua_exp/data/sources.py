"""Reading the project's JSONL data files, with errors that name the file and line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

DATA_HELP = (
    "point SUA_DATA_DIR (or paths.data_dir) at a data folder, e.g. `export SUA_DATA_DIR=../shared/data`, "
    "or build one with `sua-prepare`"
)


class DataError(ValueError):
    """A data file or folder is missing or malformed; the message names the file (and line)."""


def project_root() -> Path:
    """The folder holding pyproject.toml and conf/ (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "conf").is_dir() else Path.cwd()


def default_data_dir() -> Path:
    """`SUA_DATA_DIR` if set, else `data/` in the project root."""
    env = os.environ.get("SUA_DATA_DIR")
    return Path(env) if env else project_root() / "data"


def resolve_data_file(path: str | os.PathLike, data_dir: str | os.PathLike | None) -> Path:
    """Absolute paths are used as given; relative ones are looked up under `data_dir`."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        base = Path(data_dir) if data_dir is not None else default_data_dir()
        if not base.is_dir():
            raise DataError(f"data folder {base} does not exist: {DATA_HELP}")
        p = base / p
    if not p.is_file():
        raise DataError(f"data file {p} does not exist: {DATA_HELP}")
    return p


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; malformed JSON raises DataError."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj
