"""Word-level perturbations: WordNet synonym swap, deletion, repetition, local shuffle, misspelling.

Words are :data:`~.base.WORD_RE` matches (letters with inner apostrophes); numbers, punctuation
and whitespace keep their places. ``rate`` is the fraction of eligible words edited
(:func:`~.base.num_edits`); each class says which words are eligible. Protected words are never
eligible.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from pathlib import Path

from sua_exp.perturb.base import (
    WORD_RE,
    DrawFn,
    DrawPerturbation,
    Perturbation,
    match_case,
    normalize_word,
    num_edits,
    sample_with_draws,
)
from sua_exp.perturb.wordnet import cue_of, get_wordnet_synonyms, pos_from_cue

__all__ = [
    "NEGATIONS",
    "STOP_WORDS",
    "LocalShuffle",
    "Misspelling",
    "SynonymSwap",
    "WordDeletion",
    "WordRepetition",
    "load_spelling_dict",
]

#: English stop words (nltk's list, with contractions); never synonym-swapped.
STOP_WORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them their
    theirs themselves what which who whom this that that'll these those am is are was were be been
    being have has had having do does did doing a an the and but if or because as until while of
    at by for with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how all any
    both each few more most other some such no nor not only own same so than too very s t can will
    just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn
    didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn
    mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn
    wouldn't
    """.split()
)

#: Negation words: never deleted by :class:`WordDeletion` by default (deleting them flips meaning).
NEGATIONS: frozenset[str] = frozenset(
    "not no never nor none nothing nobody nowhere neither without cannot n't".split()
)


def _is_negation(w: str) -> bool:
    return w in NEGATIONS or w.endswith("n't")


#: Splits a text into [gap, word, gap, ..., word, gap] (one capture group: words at odd indices).
_WORD_SPLIT_RE = re.compile(f"({WORD_RE.pattern})")
#: Entries of a SynonymSwap's lookup cache before it is cleared (bounds memory on huge corpora).
_SYNONYM_CACHE_SIZE = 1 << 18


def _words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD_RE.finditer(text)]


class _WordPerturbation(Perturbation):
    name = "word"

    def _eligible(self, text: str, spans: list[tuple[int, int]]) -> list[int]:
        """Indices (into ``spans``) of eligible words."""
        return [i for i, (s, e) in enumerate(spans) if not self.is_protected(text[s:e])]

    def count_eligible(self, text: str) -> int:
        return len(self._eligible(text, _words(text)))

    def _substitute(self, word: str, rng: random.Random) -> str:
        """The replacement of one chosen word (subclasses that edit word by word)."""
        raise NotImplementedError

    def perturb_one(self, text: str, rng: random.Random) -> str:
        """Replace `num_edits` eligible words, sampled without replacement, by `_substitute`."""
        spans = _words(text)
        elig = self._eligible(text, spans)
        k = num_edits(self.rate, len(elig))
        if k == 0:
            return text
        repl = {}
        for i in rng.sample(elig, k):  # sample order: each substitution may draw from rng
            repl[i] = self._substitute(text[spans[i][0] : spans[i][1]], rng)
        return self._replace(text, spans, repl)

    @staticmethod
    def _replace(text: str, spans: list[tuple[int, int]], repl: dict[int, str]) -> str:
        out = []
        prev = 0
        for i in sorted(repl):
            s, e = spans[i]
            out.append(text[prev:s])
            out.append(repl[i])
            prev = e
        out.append(text[prev:])
        return "".join(out)


class WordDeletion(_WordPerturbation):
    """Delete words (``the big dog`` -> ``the dog``); the surrounding whitespace is merged.

    Eligible: unprotected words, except negations (``not``, ``never``, ``*n't`` ...) while
    ``protect_negations`` (default) and except that a text keeps at least one word (a
    one-word text has no eligible word).
    """

    name = "word_deletion"

    def __init__(
        self,
        rate: float = 0.1,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        protect_negations: bool = True,
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        self.protect_negations = bool(protect_negations)

    def _eligible(self, text: str, spans: list[tuple[int, int]]) -> list[int]:
        if len(spans) < 2:
            return []
        out = []
        for i, (s, e) in enumerate(spans):
            w = text[s:e]
            if self.is_protected(w) or (self.protect_negations and _is_negation(normalize_word(w))):
                continue
            out.append(i)
        return out

    def perturb_one(self, text: str, rng: random.Random) -> str:
        spans = _words(text)
        elig = self._eligible(text, spans)
        k = min(num_edits(self.rate, len(elig)), len(spans) - 1)
        if k <= 0:
            return text
        dele = set(rng.sample(elig, k))
        # gaps[i] = text before word i; gaps[n] = text after the last word
        bounds = [0] + [x for s, e in spans for x in (s, e)] + [len(text)]
        gaps = [text[bounds[2 * i] : bounds[2 * i + 1]] for i in range(len(spans) + 1)]
        out: list[str] = []
        run = [gaps[0]]  # gaps between the previous kept word and the next one
        kept_any = False
        for i, (s, e) in enumerate(spans):
            if i in dele:
                run.append(gaps[i + 1])
                continue
            out.append(_merge_gaps(run, at_start=not kept_any, at_end=False))
            out.append(text[s:e])
            kept_any = True
            run = [gaps[i + 1]]
        out.append(_merge_gaps(run, at_start=not kept_any, at_end=True))
        return "".join(out)


_CLOSERS = frozenset(",.;:!?)]}")


def _join2(a: str, b: str) -> str:
    return a + b.lstrip() if a[-1:].isspace() and b[:1].isspace() else a + b


def _merge_gaps(gaps: list[str], at_start: bool, at_end: bool) -> str:
    """The text left between two kept words when the words between ``gaps`` are deleted."""
    if len(gaps) == 1:
        return gaps[0]
    if at_start:  # keep the text's leading gap, drop whitespace the deleted words leave after it
        rest = ""
        for g in gaps[1:]:
            rest = _join2(rest, g)
        return gaps[0] + rest.lstrip()
    merged = gaps[0]
    for g in gaps[1:-1] if at_end else gaps[1:]:
        merged = _join2(merged, g)
    if at_end:  # keep the text's trailing gap, drop whitespace dangling before it
        return merged.rstrip() + gaps[-1]
    if merged[:1].isspace() and merged.lstrip()[:1] in _CLOSERS:
        return merged.lstrip()  # "the dog, runs" -> "the, runs" rather than "the , runs"
    return merged


class WordRepetition(_WordPerturbation):
    """Repeat words (``the big dog`` -> ``the big big dog``). Eligible: unprotected words."""

    name = "word_repetition"

    def __init__(self, rate: float = 0.1, seed: int = 0, protected_words: Sequence[str] = ()) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)

    def _substitute(self, word: str, rng: random.Random) -> str:
        return f"{word} {word}"


class LocalShuffle(_WordPerturbation):
    """Swap words with a nearby word (``the big dog`` -> ``big the dog``).

    Each swap exchanges two eligible words at most ``window`` word positions apart (``window=1``:
    adjacent words) whose lower-cased forms differ; swaps never share a word; punctuation and
    whitespace stay in place. Eligible: unprotected words. ``rate`` is the fraction of eligible
    words moved, so the number of swaps is ``num_edits(rate / 2, n_eligible)`` (at least one
    when a swappable pair exists).
    """

    name = "local_shuffle"

    def __init__(
        self, rate: float = 0.1, seed: int = 0, protected_words: Sequence[str] = (), window: int = 1
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)

    def perturb_one(self, text: str, rng: random.Random) -> str:
        spans = _words(text)
        elig = self._eligible(text, spans)
        k = num_edits(self.rate / 2, len(elig))
        if k == 0:
            return text
        words = [text[s:e] for s, e in spans]
        low = [w.lower() for w in words]
        ok = set(elig)
        order = list(elig)
        rng.shuffle(order)
        used: set[int] = set()
        repl: dict[int, str] = {}
        swaps = 0
        for i in order:
            if i in used:
                continue
            partners = [
                j
                for j in range(max(0, i - self.window), min(len(words), i + self.window + 1))
                if j != i and j in ok and j not in used and low[j] != low[i]
            ]
            if not partners:
                continue
            j = rng.choice(partners)
            used.update((i, j))
            repl[i], repl[j] = words[j], words[i]
            swaps += 1
            if swaps == k:
                break
        return self._replace(text, spans, repl) if repl else text


_SPELLING_CACHE: dict[str, dict[str, tuple[str, ...]]] = {}


def load_spelling_dict(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Read ``word misspelling1 misspelling2 ...`` lines into ``{lower word: misspellings}``.

    The list (nlpaug's ``spelling_en.txt``, from natural learner errors) also holds noise that
    would change the meaning or is not a misspelling, so a misspelling is kept only if it is a
    word (:data:`~.base.WORD_RE`: letters with inner apostrophes; drops ``?``-damaged entries,
    ``[[ist``, ``0I``), has at least 2 letters, differs from the word, is not itself a correct
    word listed in the file (``is`` -> ``was``/``his``) and adds no negation (``is`` -> ``isn't``).
    Misspellings are lower-cased (the caller restores the original word's case); entries of the
    same word in different cases are merged. Cached per path.
    """
    key = str(Path(path).expanduser().resolve())
    hit = _SPELLING_CACHE.get(key)
    if hit is not None:
        return hit
    raw: dict[str, list[str]] = {}
    with open(key, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                raw.setdefault(normalize_word(parts[0]), []).extend(parts[1:])
    out: dict[str, tuple[str, ...]] = {}
    for w, ms in raw.items():
        keep: list[str] = []
        for m in ms:
            m = normalize_word(m)
            if (
                len(m) < 2
                or m == w
                or m in raw
                or m in keep
                or not WORD_RE.fullmatch(m)
                or (_is_negation(m) and not _is_negation(w))
            ):
                continue
            keep.append(m)
        if keep:
            out[w] = tuple(keep)
    _SPELLING_CACHE[key] = out
    return out


class Misspelling(_WordPerturbation):
    """Replace words by a common human misspelling from ``spelling_file`` (format: ``word
    misspelling1 misspelling2 ...``; the project's ``lexicon/spelling_en.txt``, filtered as
    described in :func:`load_spelling_dict`). The case pattern of the original word is kept.

    Eligible: unprotected words of at least ``min_word_len`` letters (default 3: the list's
    entries for ``of``/``to``/``I`` are mostly other words) that have a misspelling in the list.
    """

    name = "misspelling"

    def __init__(
        self,
        spelling_file: str,
        rate: float = 0.1,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        min_word_len: int = 3,
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        self.spelling_file = str(spelling_file)
        if not os.path.isfile(self.spelling_file):
            raise FileNotFoundError(f"spelling file not found: {self.spelling_file}")
        self.min_word_len = int(min_word_len)
        self._table: dict[str, tuple[str, ...]] | None = None

    @property
    def table(self) -> dict[str, tuple[str, ...]]:
        if self._table is None:
            self._table = load_spelling_dict(self.spelling_file)
        return self._table

    def _eligible(self, text: str, spans: list[tuple[int, int]]) -> list[int]:
        table = self.table
        return [
            i
            for i, (s, e) in enumerate(spans)
            if e - s >= self.min_word_len
            and normalize_word(text[s:e]) in table
            and not self.is_protected(text[s:e])
        ]

    def _substitute(self, word: str, rng: random.Random) -> str:
        return match_case(word, rng.choice(self.table[normalize_word(word)]))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_table"] = None
        return state


class SynonymSwap(DrawPerturbation, _WordPerturbation):
    """Replace words by WordNet synonyms (``happy`` -> ``glad``), keeping case and simple inflection.

    WordNet is read with nltk's ``WordNetCorpusReader`` from ``wordnet_dir`` (see
    :mod:`sua_exp.perturb.wordnet` for the lexnames/cache handling, the POS heuristic and the
    inflection rules). Synonyms come from the first ``max_senses`` senses of the chosen POS;
    ``multiword=False`` (default) keeps one-word synonyms only (the token count is unchanged and
    ``with less stress`` cannot become ``with to a lesser extent stress``); ``common_only=True``
    (default) keeps synonyms with a SemCor-tagged sense, dropping rare lemmas (``know`` ->
    ``cognise``).

    Eligible: words of at least ``min_word_len`` letters (no apostrophe) that are not stop words
    (:data:`STOP_WORDS`) or protected and have at least one synonym candidate. WordNet is loaded
    lazily on first use (about 2 s, once per process; not pickled).

    Hot path (a :class:`~.base.DrawPerturbation`): texts are split into words by one regex call,
    and each word's synonyms are cached per (cue class of the previous word, word), which is all
    the POS heuristic looks at, so a repeated word costs one dict look-up. The cache depends on the
    constructor arguments only (protected words are checked outside it).
    """

    name = "synonym"

    def __init__(
        self,
        wordnet_dir: str,
        rate: float = 0.1,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        max_senses: int | None = 3,
        min_word_len: int = 3,
        use_context_pos: bool = True,
        multiword: bool = False,
        common_only: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        self.wordnet_dir = str(wordnet_dir)
        if not os.path.isdir(self.wordnet_dir):
            raise FileNotFoundError(f"WordNet folder not found: {self.wordnet_dir}")
        if max_senses is not None and max_senses < 1:
            raise ValueError(f"max_senses must be >= 1 or None, got {max_senses}")
        self.max_senses = max_senses
        self.min_word_len = int(min_word_len)
        self.use_context_pos = bool(use_context_pos)
        self.multiword = bool(multiword)
        self.common_only = bool(common_only)
        self.cache_dir = cache_dir
        self._lex = None
        # (cue class of the previous word, word) -> see _lookup; shared by scaled()/with_protected()
        # copies, which is safe: protected words are checked outside it
        self._seen: dict[tuple[str | None, str], tuple[tuple[str, ...], str | None]] = {}

    @property
    def lexicon(self):
        if self._lex is None:
            self._lex = get_wordnet_synonyms(self.wordnet_dir, self.max_senses, self.cache_dir)
        return self._lex

    def _lookup(self, cue: str | None, word: str) -> tuple[tuple[str, ...], str | None]:
        """(synonyms of ``word`` after a word of cue class ``cue``, ``()`` when it is not eligible
        whatever the protected words; the cue class of ``word`` itself), cached per instance."""
        lw = normalize_word(word)
        if len(word) < self.min_word_len or lw in STOP_WORDS or "'" in lw or not word.isascii():
            syns: tuple[str, ...] = ()
        else:
            hint = pos_from_cue(cue, lw) if self.use_context_pos else None
            syns = self.lexicon.synonyms(lw, hint, self.multiword, self.common_only)
        hit = (syns, cue_of(lw) if self.use_context_pos else None)
        if len(self._seen) >= _SYNONYM_CACHE_SIZE:
            self._seen.clear()
        self._seen[(cue, word)] = hit
        return hit

    def _eligible_words(self, words: Sequence[str]) -> list[tuple[int, tuple[str, ...]]]:
        """(index, synonyms) of the eligible words among the consecutive ``words`` of a text."""
        seen, lookup, prot = self._seen, self._lookup, self.protected_words
        out = []
        cue = None
        for i, w in enumerate(words):
            hit = seen.get((cue, w)) or lookup(cue, w)
            syns, cue = hit
            if syns and not (prot and normalize_word(w) in prot):
                out.append((i, syns))
        return out

    def candidates(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, synonyms) for every eligible word of ``text``."""
        spans = _words(text)
        return [(*spans[i], syns) for i, syns in self._eligible_words([text[s:e] for s, e in spans])]

    def count_eligible(self, text: str) -> int:
        return len(self._eligible_words(_WORD_SPLIT_RE.split(text)[1::2]))

    def perturb_draws(self, text: str, draws: DrawFn) -> str:
        parts = _WORD_SPLIT_RE.split(text)  # [gap, word, gap, ..., word, gap]
        cands = self._eligible_words(parts[1::2])
        k = num_edits(self.rate, len(cands))
        if k == 0:
            return text
        u = draws(2 * k)  # u[:k] pick the words, u[k + j] the synonym of the j-th pick
        for j, (i, syns) in enumerate(sample_with_draws(cands, k, u), k):
            word, new = parts[2 * i + 1], syns[u[j] * len(syns) >> 32]
            parts[2 * i + 1] = new if word.islower() else match_case(word, new)
        return "".join(parts)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lex"] = None
        state["_seen"] = {}
        return state
