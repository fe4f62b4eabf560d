"""Our perturbations vs nlpaug's equivalent augmenters: perturbations per second, same texts, same process.

    pip install nlpaug==1.1.11 --no-deps     # benchmark-only dependency, never imported by sua_exp
    pip install textblob-aptagger==0.2.0 --no-deps   # benchmark-only: tagger weights for nlpaug
    python benchmarks/perturb_vs_nlpaug.py [--data-dir DIR] [--n 10000] [--repeats 3] [--target 5]

Comparisons, on the first ``--n`` sarcasm headlines (``$SUA_DATA_DIR/classification/
sarcasm_headlines.jsonl``, default /work/shared/data):

* ``keyboard_typo``: our :class:`~sua_exp.perturb.KeyboardTypo` vs ``nac.KeyboardAug()`` (both
  with nlpaug's ``keyboard_en.json`` map, nlpaug at its defaults). Ours runs at ``rate=0.2`` of
  the eligible letters, which matches nlpaug's edit volume on these headlines (about 8 changed
  characters per headline on both sides: the ``chars/text`` column, counted on the outputs that
  kept the original length).
* ``synonym_swap``: our :class:`~sua_exp.perturb.SynonymSwap` vs ``naw.SynonymAug(aug_src=
  'wordnet')`` (nlpaug at its default ``aug_p=0.3`` of the tokens). Ours runs at ``rate=0.8`` of
  its eligible words (non-stop words that have a common synonym), which matches nlpaug's edit
  volume (about 3 original words replaced per headline: the ``words/text`` column). nlpaug reads WordNet through nltk; the benchmark hands
  it the nltk ``WordNetCorpusReader`` that :func:`sua_exp.perturb.wordnet.load_wordnet` builds on
  the project's WordNet copy (nltk's stock ``nltk.corpus.wordnet`` loader cannot open that copy:
  it needs a ``corpora/wordnet`` layout and ``index.sense``). SynonymAug also POS-tags every text
  with ``nltk.pos_tag``, which needs the ``averaged_perceptron_tagger_eng`` download (not
  available offline). Without it, ``nltk.pos_tag`` is pointed at nltk's own ``PerceptronTagger``
  loaded with the weights that ``textblob-aptagger`` 0.2.0 ships (``pip install
  textblob-aptagger==0.2.0 --no-deps``; nltk's tagger is a port of that one: same model
  layout, same Penn tags), so nlpaug runs its real code path. An extra line,
  marked ``*`` and *indicative*, times nlpaug with a stub tagger that tags nothing (nlpaug then
  looks synonyms up in every POS and skips the tagger's cost, which only flatters nlpaug). When
  neither nltk's data nor textblob-aptagger is installed the main line reads ``n/a``.

Timing: each augmenter is warmed up on 5 texts (lexicon loading), then the whole list is
perturbed ``--repeats`` times; ``cold/s`` is the first pass, ``best/s`` the fastest (both sides
have per-word caches). ``ratio`` = our best/s over nlpaug's best/s. Offline guards (benchmark
process only): ``nltk.download`` is replaced by a no-op, and nlpaug's unused ``gdown`` import is
stubbed when gdown is not installed.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import pickle
import platform
import random
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("SUA_DATA_DIR")
    if env:
        return Path(env)
    local = ROOT / "data"
    return local if (local / "classification").is_dir() else Path("/work/shared/data")


def load_headlines(data_dir: Path, n: int) -> list[str]:
    out = []
    with open(data_dir / "classification" / "sarcasm_headlines.jsonl", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


def edit_volume(out: list[str], texts: list[str]) -> tuple[float, float]:
    """(changed characters per text over the same-length outputs, original words per text
    that the output does not keep: whitespace tokens outside difflib's longest matching blocks)."""
    same = [(o, t) for o, t in zip(out, texts, strict=True) if len(o) == len(t)]
    chars = sum(sum(a != b for a, b in zip(o, t, strict=True)) for o, t in same) / max(1, len(same))
    words = 0
    for o, t in zip(out, texts, strict=True):
        tw = t.split()
        sm = difflib.SequenceMatcher(None, tw, o.split(), autojunk=False)
        words += len(tw) - sum(b.size for b in sm.get_matching_blocks())
    words /= len(texts)
    return chars, words


def timed(
    fn: Callable[[list[str]], list[str]], texts: list[str], repeats: int
) -> tuple[float, float, float, float, float]:
    """(cold texts/s, best texts/s, fraction of texts changed, chars/text, words/text)."""
    fn(texts[:5])  # warm-up: lazy lexicon loading
    times, out = [], texts
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn(texts)
        times.append(time.perf_counter() - t0)
    assert len(out) == len(texts)
    changed = sum(o != t for o, t in zip(out, texts, strict=True)) / len(texts)
    return len(texts) / times[0], len(texts) / min(times), changed, *edit_volume(out, texts)


def import_nlpaug():
    """nlpaug's char and word augmenters, offline (see the module docstring)."""
    try:
        import gdown  # noqa: F401
    except ImportError:  # only used by nlpaug's model downloader
        sys.modules["gdown"] = types.ModuleType("gdown")
    import nltk

    nltk.download = lambda *args, **kwargs: False  # never reach for the network
    import nlpaug
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw

    return nlpaug, nac, naw


def pos_tagger_missing() -> str | None:
    import nltk

    try:
        nltk.pos_tag(["test"])
    except LookupError:
        return "nltk.pos_tag needs the averaged_perceptron_tagger_eng download, not available offline"
    return None


class _SetsOnlyUnpickler(pickle.Unpickler):
    """textblob-aptagger's pickle holds dicts, strings, floats and sets: refuse any other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in {("__builtin__", "set"), ("builtins", "set")}:
            return set
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the tagger pickle")


def textblob_perceptron_tagger():
    """nltk's ``PerceptronTagger`` with textblob-aptagger's weights, or None if it is not installed.

    The package is never imported (it needs textblob); only its pickle of (weights, tag
    dictionary, classes) is read, the very triple nltk's tagger keeps."""
    spec = importlib.util.find_spec("textblob_aptagger")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "trontagger-0.1.0.pickle"
    if not path.is_file():
        return None
    from nltk.tag.perceptron import PerceptronTagger

    with open(path, "rb") as f:
        weights, tagdict, classes = _SetsOnlyUnpickler(f, encoding="latin1").load()
    tagger = PerceptronTagger(load=False)
    tagger.model.weights, tagger.tagdict, tagger.classes = weights, tagdict, classes
    tagger.model.classes = classes
    return tagger


def use_tagger(tagger) -> None:
    """Make ``nltk.pos_tag`` (which nlpaug calls) tag with ``tagger``."""
    import nltk.tag

    nltk.tag._get_tagger = lambda lang=None: tagger


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", type=float, default=5.0)
    args = ap.parse_args(argv)

    data = args.data_dir
    if not (data / "classification" / "sarcasm_headlines.jsonl").is_file():
        print(f"no sarcasm_headlines.jsonl under {data}; set SUA_DATA_DIR or --data-dir", file=sys.stderr)
        return 2
    try:
        nlpaug, nac, naw = import_nlpaug()
    except ImportError as exc:
        print(f"nlpaug is not installed ({exc}): pip install nlpaug==1.1.11 --no-deps", file=sys.stderr)
        return 2

    from sua_exp.perturb import KeyboardTypo, SynonymSwap
    from sua_exp.perturb.wordnet import load_wordnet

    texts = load_headlines(data, args.n)
    lex = data / "lexicon"
    random.seed(0)  # nlpaug draws from the global generators
    import numpy as np

    np.random.seed(0)
    print(
        f"{len(texts)} headlines ({sum(map(len, texts)) / len(texts):.0f} chars on average), best of "
        f"{args.repeats}; Python {platform.python_version()} on {platform.machine()}, nlpaug {nlpaug.__version__}"
    )

    rows: list[tuple] = []  # (comparison, library, cold/s, best/s, changed, chars/text, words/text)
    verdicts: list[tuple[str, str, str]] = []

    def compare(name: str, ours: Callable, theirs: Callable, note: str = "", row: str = "") -> None:
        o = timed(ours, texts, args.repeats)
        t = timed(theirs, texts, args.repeats)
        rows.append((row or name, "sua_exp", *o))
        rows.append((row or name, "nlpaug", *t))
        ratio = o[1] / t[1]
        verdicts.append((name + note, f"{ratio:.1f}x", "pass" if ratio >= args.target else "fail"))

    # ---------------------------------------------------------------- keyboard typos
    typo = KeyboardTypo(rate=0.2, keyboard_file=str(lex / "keyboard_en.json"), seed=0)
    kb = nac.KeyboardAug(model_path=str(lex / "keyboard_en.json"))
    compare("keyboard_typo", lambda ts: typo(ts, seed=0), lambda ts: kb.augment(ts))

    # ---------------------------------------------------------------- WordNet synonyms
    syn = SynonymSwap(wordnet_dir=str(lex / "wordnet"), rate=0.8, seed=0)
    nwn = sys.modules["nlpaug.model.word_dict.wordnet"]  # the module (the package re-exports a name)
    nwn.wordnet = load_wordnet(lex / "wordnet")  # also registers the cache dir in nltk.data.path
    syn_aug = naw.SynonymAug(aug_src="wordnet", aug_p=0.3)
    ours_syn, theirs_syn = (lambda ts: syn(ts, seed=0)), (lambda ts: syn_aug.augment(ts))
    missing = pos_tagger_missing()
    tagger = textblob_perceptron_tagger() if missing else None
    if missing is None:
        compare("synonym_swap", ours_syn, theirs_syn)
    elif tagger is not None:
        use_tagger(tagger)
        compare("synonym_swap", ours_syn, theirs_syn, note="[nltk PerceptronTagger, textblob weights]")
    else:
        hint = "pip install textblob-aptagger==0.2.0 --no-deps"
        verdicts.append(("synonym_swap", "n/a", f"n/a ({missing}; or {hint})"))
    if missing is not None:
        nwn.WordNet.pos_tag = classmethod(lambda cls, tokens: [(t, "") for t in tokens])
        compare(
            "synonym_swap",
            ours_syn,
            theirs_syn,
            note="[nlpaug POS tagger stubbed; indicative]",
            row="synonym_swap*",
        )

    print(
        f"\n{'throughput':<16} {'library':<8} {'cold/s':>10} {'best/s':>10} {'changed':>8} "
        f"{'chars/text':>10} {'words/text':>10}"
    )
    for name, who, cold, best, changed, chars, words in rows:
        print(
            f"{name:<16} {who:<8} {cold:>10,.0f} {best:>10,.0f} {changed:>8.1%} {chars:>10.1f} {words:>10.2f}"
        )
    if any(r[0].endswith("*") for r in rows):
        print("* nlpaug with a stub POS tagger (no tagging cost, synonyms of every POS): indicative only")
    print(f"\n{'name':<55} {'ratio':>7}  {'target':<11} result")
    for name, ratio, result in verdicts:
        print(f"{name:<55} {ratio:>7}  target>={args.target:g}x  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
