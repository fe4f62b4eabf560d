"""Atomic file output: a crash mid-write leaves the old file (or none), never half a file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """A text file handle whose content appears at `path`, complete, only if the block succeeds
    (temporary name in the same folder, fsync, rename); on an error the old file is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_rows(fh: TextIO, rows: Iterable[Mapping[str, Any]]) -> None:
    """JSON lines (tensors as lists, NaN as null)."""
    for row in rows:
        fh.write(json.dumps(_jsonable(row), ensure_ascii=False) + "\n")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """JSON with NaN written as null (strict JSON readers reject NaN)."""
    with atomic_open(path) as fh:
        json.dump(_jsonable(obj), fh, indent=2, sort_keys=True)
    return Path(path)


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    with atomic_open(path) as fh:
        write_rows(fh, rows)
    return Path(path)
