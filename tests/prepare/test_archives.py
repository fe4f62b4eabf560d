"""Safe extraction (sua_exp.utils.archives): malicious archives are refused and write nothing."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from sua_exp.utils.archives import (
    ArchiveError,
    Sha256Mismatch,
    UnsafeArchiveError,
    atomic_write_bytes,
    atomic_writer,
    check_sha256,
    extract,
    list_members,
    normalize_member_name,
    read_ar,
    read_members,
    sha256_file,
)

GOOD = ("pkg/ok.txt", b"fine\n")

MALICIOUS_TARS = {
    "dotdot": [GOOD, ("../evil", b"pwned")],
    "dotdot_nested": [GOOD, ("pkg/../../evil", b"pwned")],
    "absolute": [GOOD, ("/tmp/sua_exp_test_evil_absolute", b"pwned")],
    "symlink_escape": [GOOD, ("pkg/link", tarfile.SYMTYPE, "../../evil")],
    "symlink_absolute": [GOOD, ("pkg/link", tarfile.SYMTYPE, "/etc/passwd")],
    "symlink_then_write_through": [("up", tarfile.SYMTYPE, ".."), ("up/evil", b"pwned")],
    "hardlink_escape": [GOOD, ("pkg/hard", tarfile.LNKTYPE, "../../etc/passwd")],
    "device": [GOOD, ("pkg/dev", tarfile.CHRTYPE, "")],
    "fifo": [GOOD, ("pkg/fifo", tarfile.FIFOTYPE, "")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_TARS))
@pytest.mark.parametrize("mode", ["w:gz", "w:xz"])
def test_malicious_tar_is_refused_and_writes_nothing(sandbox, case, mode, make):
    archives, target = sandbox
    path = archives / f"{case}.tar"
    path.write_bytes(make.tar(MALICIOUS_TARS[case], mode=mode))
    before = make.files(target.parent.parent)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract(path, target)
    assert str(path) in str(exc.value)  # the message names the archive
    assert make.files(target.parent.parent) == before  # nothing written, inside or outside the target
    assert not Path("/tmp/sua_exp_test_evil_absolute").exists()
    with pytest.raises(UnsafeArchiveError):  # the in-memory reader refuses the same archives
        read_members(path, lambda n: True)


def test_symlink_escape_refused_even_when_only_the_link_is_selected(sandbox, make):
    archives, target = sandbox
    path = archives / "a.tar.gz"
    path.write_bytes(make.tar([GOOD, ("pkg/link", tarfile.SYMTYPE, "../../../outside")]))
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract(path, target, lambda n: n if n == "pkg/link" else None)
    assert not (target / "pkg").exists()


def test_symlink_chain_escape_is_refused_and_writes_nothing_outside(sandbox, make):
    """`a -> .` then `a/b -> ..` is lexically inside but escapes through the first link."""
    archives, target = sandbox
    path = archives / "chain.tar"
    path.write_bytes(
        make.tar([("a", tarfile.SYMTYPE, "."), ("a/b", tarfile.SYMTYPE, ".."), ("a/b/evil", b"x")])
    )
    with pytest.raises(UnsafeArchiveError):
        extract(path, target)
    outside = make.files(target.parent.parent) - {"box/target/" + f for f in make.files(target)}
    assert outside == {"archives/chain.tar"}  # the link `a` may exist inside the target, nothing outside
    assert not (target / "b").exists()


def test_selector_cannot_redirect_outside(sandbox, make):
    archives, target = sandbox
    path = archives / "a.tar.gz"
    path.write_bytes(make.tar([GOOD]))
    for dest in ["../evil", "/abs/evil", "a/../../evil"]:
        with pytest.raises(UnsafeArchiveError):
            extract(path, target, lambda n, d=dest: d)
    assert make.files(target.parent.parent) == {f"archives/{path.name}"}  # only the archive itself


def test_preexisting_symlink_in_target_is_not_followed(sandbox, tmp_path, make):
    archives, target = sandbox
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, target / "pkg")  # e.g. planted by someone else
    path = archives / "a.tar.gz"
    path.write_bytes(make.tar([GOOD]))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract(path, target)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "bad", ["../evil", "pkg/../../evil", "/tmp/sua_exp_test_evil_zip", "C:/evil", "pkg\\..\\..\\evil"]
)
def test_malicious_zip_is_refused_and_writes_nothing(sandbox, bad, make):
    archives, target = sandbox
    path = archives / "bad.whl"
    path.write_bytes(make.zip([GOOD, (bad, b"pwned")]))
    with pytest.raises(UnsafeArchiveError):
        extract(path, target)
    with pytest.raises(UnsafeArchiveError):
        read_members(path)
    assert make.files(target.parent.parent) == {f"archives/{path.name}"}  # only the archive itself
    assert not Path("/tmp/sua_exp_test_evil_zip").exists()


def test_zip_symlink_member_is_refused_when_selected(sandbox):
    import zipfile

    archives, target = sandbox
    path = archives / "link.whl"
    info = zipfile.ZipInfo("pkg/link")
    info.external_attr = (0o120777 << 16) | 0
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(*GOOD)
        zf.writestr(info, "../../evil")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract(path, target)
    with pytest.raises(UnsafeArchiveError, match="not a regular file"):
        read_members(path, lambda n: n == "pkg/link")
    assert read_members(path, lambda n: n == GOOD[0]) == {GOOD[0]: GOOD[1]}  # unselected: ignored


def test_good_tar_extracts_selected_members_renamed(sandbox, make):
    archives, target = sandbox
    path = archives / "good.tar.xz"
    path.write_bytes(
        make.tar(
            [
                ("./", tarfile.DIRTYPE, ""),
                ("./pkg/", tarfile.DIRTYPE, ""),
                ("./pkg/a.txt", b"A"),
                ("./pkg/sub/b.txt", b"B"),
                ("./pkg/skip.bin", b"S"),
                ("./pkg/inside", tarfile.SYMTYPE, "a.txt"),
            ],
            mode="w:xz",
        )
    )
    select = {"pkg/a.txt": "a.txt", "pkg/sub/b.txt": "deep/b.txt", "pkg/inside": "inside"}.get
    written = extract(path, target, select, required=["pkg/a.txt"])
    assert sorted(p.name for p in written) == ["a.txt", "b.txt", "inside"]
    assert (target / "a.txt").read_bytes() == b"A"
    assert (target / "deep" / "b.txt").read_bytes() == b"B"
    assert os.readlink(target / "inside") == "a.txt" and (target / "inside").read_bytes() == b"A"
    assert not (target / "skip.bin").exists()
    assert not [p for p in target.rglob(".*")]  # no temporary files left
    with pytest.raises(ArchiveError, match="missing member"):
        extract(path, target, select, required=["pkg/absent"])


def test_read_members_streams_tar_and_zip(sandbox, make):
    archives, _ = sandbox
    tgz = archives / "x.tar.gz"
    tgz.write_bytes(make.tar([("./pkg/a", b"1"), ("pkg/b", b"2")]))
    assert read_members(tgz, lambda n: n.startswith("pkg/")) == {"pkg/a": b"1", "pkg/b": b"2"}
    whl = archives / "x.whl"
    whl.write_bytes(make.zip([("pkg/a", b"1"), ("pkg/b", b"2")]))
    assert read_members(whl, lambda n: n == "pkg/b", required=["pkg/b"]) == {"pkg/b": b"2"}
    with pytest.raises(ArchiveError, match="missing member"):
        read_members(whl, lambda n: False, required=["pkg/b"])


def test_deb_ar_parsing_and_data_tar(sandbox, make):
    archives, target = sandbox
    deb = archives / "x_1.0_all.deb"
    deb.write_bytes(make.deb([("./usr/share/x/data.txt", b"odd"), ("./usr/share/x/even", b"ev")]))
    parts = read_ar(deb)
    assert list(parts) == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    assert parts["debian-binary"] == b"2.0\n"
    assert {m.name for m in list_members(deb) if m.kind == "file"} == {
        "usr/share/x/data.txt",
        "usr/share/x/even",
    }
    extract(deb, target, lambda n: n.rsplit("/", 1)[-1] if n.startswith("usr/share/x/") else None)
    assert (target / "data.txt").read_bytes() == b"odd" and (target / "even").read_bytes() == b"ev"


def test_deb_with_malicious_data_tar_is_refused(sandbox, make):
    archives, target = sandbox
    deb = archives / "evil.deb"
    deb.write_bytes(make.deb([("./usr/share/x/ok", b"1"), ("./../../evil", b"pwned")]))
    with pytest.raises(UnsafeArchiveError):
        extract(deb, target)
    assert make.files(target.parent.parent) == {f"archives/{deb.name}"}  # only the archive itself


MALFORMED_AR = {
    "short_header": (lambda make: b"!<arch>\n" + b"x" * 30, "truncated or malformed"),
    "truncated_data": (lambda make: make.ar([("data.tar.xz", b"abcd")])[:-2], "truncated"),
    "dotdot_name": (lambda make: make.ar([("../evil", b"ab")]), "bad name"),
    "long_name_table": (lambda make: make.ar([("//", b"ab")]), "long-name"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_AR))
def test_malformed_ar_is_refused(tmp_path, make, case):
    blob, message = MALFORMED_AR[case]
    path = tmp_path / "bad.deb"
    path.write_bytes(blob(make))
    with pytest.raises(ArchiveError, match=message):
        read_ar(path)


def test_unknown_archive_kind(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"not an archive at all")
    with pytest.raises(ArchiveError, match="not a tar, zip or .deb"):
        read_members(path)


@pytest.mark.parametrize(
    "name, clean",
    [("./a/b", "a/b"), ("a//b/./c", "a/b/c"), ("./", ""), ("a/b/", "a/b"), ("..a/b..", "..a/b..")],
)
def test_normalize_member_name(name, clean):
    assert normalize_member_name(name) == clean


def test_sha256_mismatch_message_names_file_expected_actual(tmp_path):
    path = tmp_path / "pkg-1.0.whl"
    path.write_bytes(b"hello")
    actual = sha256_file(path)
    check_sha256(path, actual.upper())  # hex case does not matter
    with pytest.raises(Sha256Mismatch) as exc:
        check_sha256(path, "0" * 64)
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg and "expected " + "0" * 64 in msg and "got " + actual in msg


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "d" / "file.jsonl"
    atomic_write_bytes(path, b"old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(path, "w", encoding="utf-8") as fh:
            fh.write("half a li")
            raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.jsonl"]  # temp file removed
    with atomic_writer(path, "w", encoding="utf-8") as fh:
        fh.write("new\n")
        assert path.read_bytes() == b"old\n"  # not visible before the rename
    assert path.read_text() == "new\n"
