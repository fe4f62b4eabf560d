"""Safe reading and extraction of downloaded archives: tar (gz/xz/bz2), zip (wheels), .deb (ar).

Archives come from package registries, so every member name is treated as untrusted:

* names are normalised (leading ``./`` dropped) and refused when absolute, with a drive letter,
  a backslash, a NUL byte or a ``..`` component;
* symbolic and hard links are refused when their target leaves the destination;
* device files, FIFOs and other special members are refused;
* only the members a caller selects are read or written, and every file is written atomically
  (temporary name in the same folder, then ``os.replace``), so an interrupted extraction never
  leaves a truncated file behind.

All checks of the selected members run before the first byte is written, so a refused archive
writes nothing at all.  Any refusal raises :class:`UnsafeArchiveError` naming the archive and
the member.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "ArchiveError",
    "UnsafeArchiveError",
    "Sha256Mismatch",
    "Member",
    "archive_format",
    "atomic_writer",
    "atomic_write_bytes",
    "check_sha256",
    "extract",
    "list_members",
    "normalize_member_name",
    "read_ar",
    "read_members",
    "sha256_file",
]

# a selector maps a (normalised) member name to its destination path relative to the target
# folder, or to None to skip the member
Selector = Callable[[str], "str | None"]


class ArchiveError(ValueError):
    """An archive is malformed, of an unknown kind, or lacks a member that was asked for."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the target folder or is of a refused kind."""


class Sha256Mismatch(ValueError):
    """A file's sha256 differs from the pinned value; the message names file, expected and actual."""

    def __init__(self, path: str | os.PathLike, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = str(path), expected, actual
        super().__init__(f"{path}: sha256 mismatch: expected {expected}, got {actual}")


# --------------------------------------------------------------------------------------
# hashing and atomic writes
# --------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`Sha256Mismatch` unless ``path`` hashes to ``expected`` (hex, any case)."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise Sha256Mismatch(path, expected.lower(), actual)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path``; on success it is fsynced and renamed to ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``path`` is
    left as it was.  Temporary names are hidden (``.<name>.<random>.tmp``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return Path(path)


# --------------------------------------------------------------------------------------
# member names
# --------------------------------------------------------------------------------------
def normalize_member_name(name: str, archive: str | os.PathLike = "archive") -> str:
    """A member name as a clean relative POSIX path ("" for the archive root).

    Raises :class:`UnsafeArchiveError` for absolute paths, drive letters, backslashes, NUL bytes
    and ``..`` components.
    """
    if "\x00" in name or "\\" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r}: NUL byte or backslash in name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r}: '..' component")
    return "/".join(parts)


def _check_relative(rel: str, archive, what: str) -> str:
    """A selector's destination must itself be a safe, non-empty relative path."""
    clean = normalize_member_name(rel, archive)
    if not clean:
        raise UnsafeArchiveError(f"{archive}: {what}: empty destination path")
    return clean


def _inside(rel_target: str) -> bool:
    """Whether a lexically normalised relative path stays inside its root."""
    norm = posixpath.normpath(rel_target)
    return not (norm == ".." or norm.startswith("../") or norm.startswith("/"))


# --------------------------------------------------------------------------------------
# a uniform view of tar / zip / deb members
# --------------------------------------------------------------------------------------
@dataclass
class Member:
    name: str  # normalised
    kind: str  # "file", "dir", "symlink", "hardlink", "special"
    linkname: str = ""  # raw link target (symlink: relative to the member; hardlink: a member name)
    raw_name: str = ""
    size: int = 0


def _tar_member(ti: tarfile.TarInfo, archive) -> Member:
    name = normalize_member_name(ti.name, archive)
    if ti.isreg():
        kind = "file"
    elif ti.isdir():
        kind = "dir"
    elif ti.issym():
        kind = "symlink"
    elif ti.islnk():
        kind = "hardlink"
    else:
        kind = "special"
    return Member(name, kind, ti.linkname, ti.name, ti.size)


def _zip_member(zi: zipfile.ZipInfo, archive) -> Member:
    name = normalize_member_name(zi.filename, archive)
    mode = zi.external_attr >> 16
    fmt = stat.S_IFMT(mode)
    if zi.is_dir():
        kind = "dir"
    elif fmt == stat.S_IFLNK:
        kind = "symlink"  # target is the member's content; zip symlinks are refused below
    elif fmt in (0, stat.S_IFREG):
        kind = "file"
    else:
        kind = "special"
    return Member(name, kind, "", zi.filename, zi.file_size)


def _check_member(m: Member, archive) -> None:
    """Refuse members that can never be extracted safely (independent of the destination)."""
    if m.kind == "special":
        raise UnsafeArchiveError(
            f"{archive}: member {m.raw_name!r}: device file, FIFO or other special member"
        )
    if (
        m.kind == "symlink" and m.linkname
    ):  # (zip symlinks keep their target in the data: refused when selected)
        if m.linkname.startswith("/") or "\x00" in m.linkname or "\\" in m.linkname:
            raise UnsafeArchiveError(
                f"{archive}: member {m.raw_name!r}: symlink to absolute path {m.linkname!r}"
            )
        if not _inside(posixpath.join(posixpath.dirname(m.name), m.linkname)):
            raise UnsafeArchiveError(
                f"{archive}: member {m.raw_name!r}: symlink {m.linkname!r} points outside the archive"
            )
    if m.kind == "hardlink":
        try:
            normalize_member_name(m.linkname, archive)
        except UnsafeArchiveError:
            raise UnsafeArchiveError(
                f"{archive}: member {m.raw_name!r}: hard link {m.linkname!r} points outside the archive"
            ) from None


def archive_format(path: str | os.PathLike) -> str:
    """ "zip", "tar" or "deb", from the file's magic bytes (not its name)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"!<arch>\n"):
        return "deb"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ArchiveError(f"{path}: not a tar, zip or .deb archive")


# --------------------------------------------------------------------------------------
# ar (.deb)
# --------------------------------------------------------------------------------------
def read_ar(path: str | os.PathLike) -> dict[str, bytes]:
    """Members of an ar archive (a Debian .deb) as {name: bytes}.

    Common (System V / GNU) ar only, as used by dpkg: 8-byte magic, then per member a 60-byte
    header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10, magic "`\\n") and the data padded
    to an even length.  Long-name tables and BSD names are refused (.deb files never use them).
    """
    out: dict[str, bytes] = {}
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ArchiveError(f"{path}: not an ar archive")
        while True:
            header = fh.read(60)
            if not header:
                break
            if len(header) < 60 or header[58:60] != b"`\n":
                raise ArchiveError(f"{path}: truncated or malformed ar member header")
            raw_name = header[:16].decode("ascii", "replace").rstrip(" ")
            size_field = header[48:58].decode("ascii", "replace").strip()
            if not size_field.isdigit():
                raise ArchiveError(f"{path}: ar member {raw_name!r}: bad size field {size_field!r}")
            size = int(size_field)
            if raw_name.startswith(("/", "#1/")) or raw_name == "//":
                raise UnsafeArchiveError(
                    f"{path}: ar member {raw_name!r}: symbol/long-name tables are not supported"
                )
            name = raw_name[:-1] if raw_name.endswith("/") else raw_name
            if not name or "/" in name or name in (".", ".."):
                raise UnsafeArchiveError(f"{path}: ar member {raw_name!r}: bad name")
            data = fh.read(size)
            if len(data) != size:
                raise ArchiveError(f"{path}: ar member {name!r} truncated ({len(data)} of {size} bytes)")
            if name in out:
                raise ArchiveError(f"{path}: duplicate ar member {name!r}")
            out[name] = data
            if size % 2:
                fh.read(1)
    return out


def _deb_data_tar(path) -> tarfile.TarFile:
    parts = read_ar(path)
    names = [n for n in parts if n.startswith("data.tar")]
    if len(names) != 1:
        raise ArchiveError(f"{path}: expected one data.tar.* member in the .deb, found {names}")
    name = names[0]
    if name.endswith(".zst"):
        raise ArchiveError(
            f"{path}: {name} is zstd-compressed, which the Python standard library cannot read"
        )
    return tarfile.open(fileobj=io.BytesIO(parts[name]), mode="r:*")


def list_members(path: str | os.PathLike) -> list[Member]:
    """Every member of a tar / zip / .deb (its data.tar), names normalised and checked."""
    fmt = archive_format(path)
    out: list[Member] = []
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            out = [_zip_member(zi, path) for zi in zf.infolist()]
    else:
        with _deb_data_tar(path) if fmt == "deb" else tarfile.open(path, mode="r|*") as tf:
            out = [_tar_member(ti, path) for ti in tf]
    for m in out:
        _check_member(m, path)
    return out


# --------------------------------------------------------------------------------------
# reading selected members into memory
# --------------------------------------------------------------------------------------
def _want(select, name):
    if select is None:
        return name
    return select(name)


def read_members(
    path: str | os.PathLike,
    wanted: Callable[[str], bool] | None = None,
    *,
    required: list[str] | tuple[str, ...] = (),
) -> dict[str, bytes]:
    """{normalised name: bytes} for the regular-file members selected by ``wanted(name)``.

    Tar archives are read in one streaming pass (a large sdist is never held in memory whole).
    Every member name is checked (an archive with a traversal name anywhere is refused); a
    selected member that is a link or a special file is refused.  ``required`` names must be
    present, else :class:`ArchiveError`.
    """
    fmt = archive_format(path)
    out: dict[str, bytes] = {}

    def take(m: Member) -> bool:
        _check_member(m, path)
        if m.kind == "dir" or not m.name:
            return False
        if not (wanted is None or wanted(m.name)):
            return False
        if m.kind != "file":
            raise UnsafeArchiveError(f"{path}: member {m.raw_name!r} is a {m.kind}, not a regular file")
        return True

    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            for zi in zf.infolist():
                m = _zip_member(zi, path)
                if take(m):
                    out[m.name] = zf.read(zi)
    else:
        tf = _deb_data_tar(path) if fmt == "deb" else tarfile.open(path, mode="r|*")
        with tf:
            for ti in tf:
                m = _tar_member(ti, path)
                if take(m):
                    fh = tf.extractfile(ti)
                    assert fh is not None
                    out[m.name] = fh.read()
    missing = [r for r in required if r not in out]
    if missing:
        raise ArchiveError(f"{path}: missing member(s): {', '.join(missing)}")
    return out


# --------------------------------------------------------------------------------------
# extraction to disk
# --------------------------------------------------------------------------------------
def _is_within(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def _safe_dest(root: Path, rel: str, archive, *, is_dir: bool = False) -> Path:
    """``root/rel`` with its parent folders created, after checking (before creating anything)
    that no existing component is a symlink leading outside ``root``."""
    dest = root.joinpath(*rel.split("/"))
    folder = dest if is_dir else dest.parent
    if not _is_within(root, folder):  # realpath resolves the existing prefix, keeps the rest
        raise UnsafeArchiveError(f"{archive}: destination {rel!r} resolves outside {root}")
    folder.mkdir(parents=True, exist_ok=True)
    return dest


def extract(
    path: str | os.PathLike,
    dest: str | os.PathLike,
    select: Selector | None = None,
    *,
    required: list[str] | tuple[str, ...] = (),
) -> list[Path]:
    """Extract the selected members of a tar / zip / .deb (its data.tar) into ``dest``.

    ``select(name)`` returns the destination relative to ``dest`` (so members can be renamed or
    flattened) or None to skip; without it every member keeps its own name.  All selected members
    are checked before anything is written; each file is written atomically.  Links are created
    only when their target stays inside ``dest``.  Returns the written paths (files and links).
    """
    fmt = archive_format(path)
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)

    # pass 1: list and check the selected members (nothing written yet)
    plan: list[tuple[Member, str, object]] = []
    targets: dict[str, str] = {}  # member name -> destination rel path

    def consider(m: Member, handle) -> None:
        _check_member(m, path)
        if not m.name:
            return
        rel = _want(select, m.name)
        if rel is None:
            return
        rel = _check_relative(rel, path, f"member {m.raw_name!r}")
        if m.kind == "symlink" and not m.linkname:
            raise UnsafeArchiveError(f"{path}: member {m.raw_name!r}: symlinks in zip archives are refused")
        if m.kind == "symlink" and not _inside(posixpath.join(posixpath.dirname(rel), m.linkname)):
            raise UnsafeArchiveError(
                f"{path}: member {m.raw_name!r}: symlink {m.linkname!r} would point outside {root}"
            )
        targets[m.name] = rel
        plan.append((m, rel, handle))

    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            for zi in zf.infolist():
                consider(_zip_member(zi, path), zi)
            _check_plan(plan, targets, required, path)
            return _write_plan(plan, targets, root, path, lambda zi: zf.read(zi))
    tf = _deb_data_tar(path) if fmt == "deb" else tarfile.open(path, mode="r:*")
    with tf:
        for ti in tf.getmembers():
            consider(_tar_member(ti, path), ti)
        _check_plan(plan, targets, required, path)
        return _write_plan(plan, targets, root, path, lambda ti: tf.extractfile(ti).read())


def _check_plan(plan, targets, required, archive) -> None:
    missing = [r for r in required if r not in targets]
    if missing:
        raise ArchiveError(f"{archive}: missing member(s): {', '.join(missing)}")
    seen: dict[str, str] = {}
    for m, rel, _ in plan:
        if m.kind == "hardlink":
            link = normalize_member_name(m.linkname, archive)
            if link not in targets:
                raise UnsafeArchiveError(
                    f"{archive}: member {m.raw_name!r}: hard link to {m.linkname!r}, which is not extracted"
                )
        if m.kind != "dir" and rel in seen:
            raise UnsafeArchiveError(
                f"{archive}: members {seen[rel]!r} and {m.raw_name!r} both write {rel!r}"
            )
        seen[rel] = m.raw_name


def _write_plan(plan, targets, root: Path, archive, read) -> list[Path]:
    written: list[Path] = []
    for m, rel, handle in plan:
        if m.kind == "dir":
            _safe_dest(root, rel, archive, is_dir=True)
            continue
        out = _safe_dest(root, rel, archive)
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise UnsafeArchiveError(f"{archive}: destination {out} exists and is not a regular file")
        if m.kind == "file":
            atomic_write_bytes(out, read(handle))
        elif m.kind == "hardlink":  # a copy of the (already written) target member
            src = root.joinpath(*targets[normalize_member_name(m.linkname, archive)].split("/"))
            atomic_write_bytes(out, src.read_bytes())
        elif m.kind == "symlink":
            if not _is_within(root, os.path.join(out.parent, m.linkname)):
                raise UnsafeArchiveError(
                    f"{archive}: member {m.raw_name!r}: symlink would point outside {root}"
                )
            tmp = out.with_name(f".{out.name}.link.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(m.linkname, tmp)
            os.replace(tmp, out)
        written.append(out)
    return written
