"""Builders of small (and malicious) tar / zip / .deb archives for the sua-prepare tests."""

from __future__ import annotations

import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest


def tar_bytes(members: list[tuple], mode: str = "w:gz") -> bytes:
    """members: (name, bytes) for files, (name, tarfile.XXXTYPE, linkname) for anything else."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for m in members:
            info = tarfile.TarInfo(m[0])
            if len(m) == 2:
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
            else:
                info.type = m[1]
                info.linkname = m[2]
                tf.addfile(info)
    return buf.getvalue()


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps the name as given (no sanitising)
    return buf.getvalue()


def ar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


def deb_bytes(data_members: list[tuple]) -> bytes:
    data_tar = tar_bytes(data_members, mode="w")
    return ar_bytes(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", lzma.compress(tar_bytes([("./control", b"Package: x\n")], mode="w"))),
            ("data.tar.xz", lzma.compress(data_tar)),
        ]
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(archive folder, extraction target); the target sits two levels below tmp_path so that
    `..` escapes land in folders the test can inspect."""
    archives = tmp_path / "archives"
    target = tmp_path / "box" / "target"
    archives.mkdir()
    target.mkdir(parents=True)
    return archives, target


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


class Make:
    """The builders above, handed to tests by the `make` fixture (a test module cannot import this
    conftest by name: tests/conftest.py already owns that module name)."""

    tar = staticmethod(tar_bytes)
    zip = staticmethod(zip_bytes)
    ar = staticmethod(ar_bytes)
    deb = staticmethod(deb_bytes)
    files = staticmethod(all_files)


@pytest.fixture
def make() -> type[Make]:
    return Make
