"""Character-level perturbations: keyboard typos, insertions, deletions, swaps, OCR noise, case.

Eligibility (shared by all classes here): only characters inside words (:data:`~.base.WORD_RE`)
of at least ``min_word_len`` characters (default 3) that are not protected are edited, and with
``keep_first=True`` (the default, except for :class:`CaseChange`) the first character of a word
is never changed: readers recover words from their first letter, and models' tokenizers split
mostly at word starts, so this keeps the perturbation in the "still readable" regime. Digits,
punctuation, whitespace, emoji and control characters are never touched.

``rate`` is the fraction of eligible *sites* edited (see :func:`~.base.num_edits`); a site is a
character (typo, delete, case), an insertion slot (insert), a pair of adjacent different
characters (swap; chosen swaps never overlap) or a match of the OCR confusion table.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import re
import string
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from sua_exp.perturb.base import (
    WORD_RE,
    DrawFn,
    DrawPerturbation,
    Perturbation,
    draw_prefix,
    normalize_word,
    num_edits,
    text_draws,
)

__all__ = [
    "QWERTY_NEIGHBOURS",
    "CaseChange",
    "CharDelete",
    "CharInsert",
    "CharSwap",
    "KeyboardTypo",
    "OCRNoise",
    "load_keyboard_map",
    "qwerty_neighbours",
]

log = logging.getLogger(__name__)

_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# horizontal offset of each row in key widths (standard staggered layout)
_QWERTY_OFFSETS = (0.0, 0.25, 0.75)


def qwerty_neighbours() -> dict[str, list[str]]:
    """Built-in QWERTY letter neighbour map (letters only), computed from the key geometry:
    same-row left/right keys and the keys of the rows above/below that overlap horizontally."""
    pos = {}
    for r, (row, off) in enumerate(zip(_QWERTY_ROWS, _QWERTY_OFFSETS, strict=True)):
        for c, ch in enumerate(row):
            pos[ch] = (r, c + off)
    out: dict[str, list[str]] = {}
    for ch, (r, x) in pos.items():
        out[ch] = sorted(
            o
            for o, (r2, x2) in pos.items()
            if o != ch and ((r2 == r and abs(x2 - x) == 1) or (abs(r2 - r) == 1 and abs(x2 - x) < 1))
        )
    return out


#: The built-in map used when no keyboard file is given (or the file is missing).
QWERTY_NEIGHBOURS: dict[str, list[str]] = qwerty_neighbours()


def load_keyboard_map(path: str | os.PathLike | None, letters_only: bool = True) -> dict[str, list[str]]:
    """Read a ``key -> [neighbours]`` JSON keyboard map (nlpaug format).

    Values may be a list or a string of characters. Neighbours are stripped, kept only when they
    are single characters different from the key (and letters when ``letters_only``), and keys
    are lower-cased. ``None`` or a missing file gives the built-in :data:`QWERTY_NEIGHBOURS`
    (a missing file is logged as a warning).
    """
    if path is None:
        return {k: list(v) for k, v in QWERTY_NEIGHBOURS.items()}
    if not os.path.isfile(path):
        log.warning("keyboard map %s not found; using the built-in QWERTY map", path)
        return {k: list(v) for k, v in QWERTY_NEIGHBOURS.items()}
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    out: dict[str, list[str]] = {}
    for key, vals in raw.items():
        key = str(key).lower()
        if len(key) != 1 or (letters_only and not key.isalpha()):
            continue
        if isinstance(vals, str):
            vals = list(vals)
        neigh = []
        for v in vals:
            v = str(v).strip().lower()
            if len(v) == 1 and v != key and (v.isalpha() or not letters_only) and v not in neigh:
                neigh.append(v)
        if neigh:
            out[key] = neigh
    return out


class _CharPerturbation(Perturbation):
    """Shared machinery: eligible words, site sampling and linear-time reassembly."""

    name = "char"
    _overlapping_sites = False  # True when two sites may overlap (swap): chosen greedily

    def __init__(
        self,
        rate: float = 0.05,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        min_word_len: int = 3,
        keep_first: bool = True,
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        if min_word_len < 1:
            raise ValueError(f"min_word_len must be >= 1, got {min_word_len}")
        self.min_word_len = int(min_word_len)
        self.keep_first = bool(keep_first)

    def _words(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of eligible words; ``start`` already skips the first char if kept."""
        skip = 1 if self.keep_first else 0
        for m in WORD_RE.finditer(text):
            s, e = m.span()
            if e - s >= self.min_word_len and not self.is_protected(m.group()):
                yield s + skip, e

    def _sites(self, text: str) -> list[tuple[int, int]]:
        """Candidate sites as (start, end) spans of ``text`` (end == start for an insertion)."""
        raise NotImplementedError

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        raise NotImplementedError

    def count_eligible(self, text: str) -> int:
        return len(self._sites(text))

    def perturb_one(self, text: str, rng: random.Random) -> str:
        sites = self._sites(text)
        k = num_edits(self.rate, len(sites))
        if k == 0:
            return text
        if self._overlapping_sites:
            order = list(range(len(sites)))
            rng.shuffle(order)
            used: set[int] = set()
            chosen = []
            for i in order:
                s, e = sites[i]
                if any(p in used for p in range(s, e)):
                    continue
                used.update(range(s, e))
                chosen.append(sites[i])
                if len(chosen) == k:
                    break
        else:
            chosen = [sites[i] for i in rng.sample(range(len(sites)), k)]
        chosen.sort()
        out = []
        prev = 0
        for s, e in chosen:
            out.append(text[prev:s])
            out.append(self._replacement(text, s, e, rng))
            prev = e
        out.append(text[prev:])
        return "".join(out)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(rate={self.rate}, seed={self.seed}, "
            f"min_word_len={self.min_word_len}, keep_first={self.keep_first})"
        )


class KeyboardTypo(DrawPerturbation, _CharPerturbation):
    """Replace letters by a QWERTY neighbour (``qwerty`` -> ``qwrrty``), preserving case.

    Eligible: letters of eligible words that are keys of the keyboard map, in either case. The map
    comes from ``keyboard_file`` (nlpaug JSON format, e.g. ``${paths.data_dir}/lexicon/keyboard_en.json``)
    or, when ``None``/missing, the built-in geometric :data:`QWERTY_NEIGHBOURS`. With
    ``letters_only=True`` (default) digits/symbols listed as neighbours are dropped, so a typo
    never turns a word into a word-with-digits.

    Hot path (a :class:`~.base.DrawPerturbation`; ``benchmarks/perturb_vs_nlpaug.py``): a
    character -> neighbours table with the case already applied, whole-word letter ranges instead
    of per-letter checks, and in batches of ASCII texts the eligible letters of all texts found
    at once with numpy and one shared byte buffer edited in place. Both paths give the same
    output for a text.
    """

    name = "keyboard_typo"

    def __init__(
        self,
        rate: float = 0.05,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        keyboard_file: str | None = None,
        min_word_len: int = 3,
        keep_first: bool = True,
        letters_only: bool = True,
    ) -> None:
        super().__init__(rate, seed, protected_words, min_word_len, keep_first)
        self.keyboard_file = None if keyboard_file is None else str(keyboard_file)
        self.letters_only = bool(letters_only)
        self.keymap = load_keyboard_map(self.keyboard_file, letters_only=self.letters_only)
        self._table = _cased_neighbours(self.keymap)
        self._outside = _outside_letters(self._table)
        self._ascii_keys = set(string.ascii_letters) <= self._table.keys()
        self._byte_table = _byte_neighbours(self._table) if self._ascii_keys else None
        # apostrophe-free ASCII text: words are letter runs; group 1 = the eligible part of a run
        # of >= min_word_len letters (a shorter run cannot match from a later start either)
        skip = 1 if self.keep_first else 0
        self._ascii_runs = re.compile(f"[A-Za-z]{{{skip}}}([A-Za-z]{{{max(0, self.min_word_len - skip)},}})")

    def _positions(self, text: str) -> list[int]:
        """Indices of the eligible letters of ``text``, in order."""
        if self._ascii_keys and not self.protected_words and text.isascii():
            return self._ascii_positions(text)
        return self._general_positions(text)

    def _ascii_positions(self, text: str) -> list[int]:
        """:meth:`_positions` of an ASCII text when every ASCII letter is a key (the usual case):
        no per-letter look-up, and apostrophe-free texts only visit their eligible words."""
        pos: list[int] = []
        extend = pos.extend
        if "'" not in text:
            for m in self._ascii_runs.finditer(text):
                extend(range(*m.span(1)))
            return pos
        skip, shortest = 1 if self.keep_first else 0, self.min_word_len
        for m in _ASCII_WORD_RE.finditer(text):
            s, e = m.span()
            if e - s >= shortest:
                extend(i for i in range(s + skip, e) if text[i] != "'")
        return pos

    def _general_positions(self, text: str) -> list[int]:
        skip = 1 if self.keep_first else 0
        shortest, prot, table = self.min_word_len, self.protected_words, self._table
        outside = self._outside.search
        whole = outside(text) is None  # every word letter has neighbours
        pos: list[int] = []
        for m in WORD_RE.finditer(text):
            s, e = m.span()
            if e - s < shortest or (prot and normalize_word(m.group()) in prot):
                continue
            if whole or outside(text, s, e) is None:
                pos.extend(range(s + skip, e))
            else:
                pos.extend(i for i in range(s + skip, e) if text[i] in table)
        return pos

    def _perturb_batch(self, texts: list[str], seed: int, view: int) -> list[str]:
        """Batches of ASCII texts find their eligible letters all at once (:func:`_ascii_eligible`)
        and edit one shared byte buffer; the draws and edits are those of :meth:`perturb_draws`."""
        fast = [t.isascii() for t in texts]
        if self.protected_words or self._byte_table is None or sum(fast) < _MIN_VECTOR_BATCH:
            return super()._perturb_batch(texts, seed, view)
        ascii_texts = [t for t, f in zip(texts, fast, strict=True) if f]
        done = iter(self._ascii_batch(ascii_texts, draw_prefix(seed, self.name, view)))
        rest = iter(
            super()._perturb_batch([t for t, f in zip(texts, fast, strict=True) if not f], seed, view)
        )
        return [next(done) if f else next(rest) for f in fast]

    def _ascii_batch(self, texts: list[str], prefix: bytes) -> list[str]:
        joined = "\n".join(texts)  # the separator is no word character: words stay within a text
        starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
        pos, cuts = _ascii_eligible(joined, starts, self.min_word_len, 1 if self.keep_first else 0)
        buf = bytearray(joined, "ascii")
        table, rate, out = self._byte_table, self.rate, list(texts)
        for t, (a, b) in enumerate(itertools.pairwise(cuts)):
            k = num_edits(rate, b - a)
            if k == 0:
                continue
            _apply_typos(buf, pos[a:b], k, text_draws(prefix, texts[t], 2 * k), table)
            out[t] = buf[starts[t] : starts[t] + len(texts[t])].decode("ascii")
        return out

    def count_eligible(self, text: str) -> int:
        return len(self._positions(text))

    def perturb_draws(self, text: str, draws: DrawFn) -> str:
        pos = self._positions(text)
        k = num_edits(self.rate, len(pos))
        if k == 0:
            return text
        chars = list(text)
        _apply_typos(chars, pos, k, draws(2 * k), self._table)
        return "".join(chars)


def _apply_typos(buf: list[str] | bytearray, pos: list[int], k: int, u: Sequence[int], table) -> None:
    """Replace ``k`` of the letters ``buf[p]``, ``p`` in ``pos``, by a neighbour from ``table``
    (indexed by the letter; a ``str -> tuple`` dict or a per-byte list): the letters are picked by
    ``u[:k]`` (:func:`~.base.sample_with_draws`'s partial Fisher-Yates, fused with the edit: this
    is the hot loop) and the neighbours by ``u[k:2k]``. ``pos`` is reordered."""
    n = len(pos)
    for j in range(k):
        r = j + (u[j] * (n - j) >> 32)
        i = pos[r]
        pos[r] = pos[j]
        nb = table[buf[i]]
        buf[i] = nb[u[k + j] * len(nb) >> 32]


#: :data:`~.base.WORD_RE` restricted to ASCII text.
_ASCII_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
#: Smallest number of ASCII texts for which :meth:`KeyboardTypo._perturb_batch` vectorises.
_MIN_VECTOR_BATCH = 32
_IS_LETTER = np.zeros(256, dtype=bool)
_IS_LETTER[list(string.ascii_letters.encode())] = True


def _ascii_eligible(
    joined: str, starts: list[int], min_word_len: int, skip: int
) -> tuple[list[int], list[int]]:
    """Eligible letters of ASCII texts joined by ``"\\n"`` (text ``t`` starts at ``starts[t]``):
    sorted positions in ``joined``, and cuts such that text ``t`` owns ``pos[cuts[t]:cuts[t + 1]]``.

    The :data:`~.base.WORD_RE` rule in array form: letters, plus apostrophes between two letters,
    form words; a word of at least ``min_word_len`` characters contributes its letters from index
    ``skip`` on. Positions match ``KeyboardTypo._ascii_positions`` text by text.
    """
    arr = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    letter = _IS_LETTER[arr]
    prev = np.concatenate(([False], letter[:-1]))
    nxt = np.concatenate((letter[1:], [False]))
    inword = letter | ((arr == ord("'")) & prev & nxt)
    before = np.concatenate(([False], inword[:-1]))
    after = np.concatenate((inword[1:], [False]))
    first = np.flatnonzero(inword & ~before)
    end = np.flatnonzero(inword & ~after) + 1
    long = end - first >= min_word_len
    size = len(arr) + 1
    depth = np.cumsum(
        np.bincount(first[long] + skip, minlength=size) - np.bincount(end[long], minlength=size)
    )
    pos = np.flatnonzero((depth[:-1] > 0) & letter)
    cuts = np.searchsorted(pos, starts).tolist() + [len(pos)]
    return pos.tolist(), cuts


def _byte_neighbours(table: Mapping[str, Sequence[str]]) -> list[bytes | None] | None:
    """``table`` indexed by byte (the ASCII keys), or None when a neighbour is not one ASCII byte."""
    out: list[bytes | None] = [None] * 256
    for key, nbs in table.items():
        if key.isascii():
            if not all(len(n) == 1 and n.isascii() for n in nbs):
                return None
            out[ord(key)] = "".join(nbs).encode("ascii")
    return out


def _cased_neighbours(keymap: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """``char -> neighbours`` for each key and its upper case (neighbours upper-cased), so that a
    typo needs no case logic."""
    table = {k: tuple(v) for k, v in keymap.items()}
    for k, v in keymap.items():
        up = k.upper()
        if len(up) == 1 and up != k and up.lower() == k and up not in table:
            table[up] = tuple(n.upper() for n in v)
    return table


def _outside_letters(table: Mapping[str, Sequence[str]]) -> re.Pattern[str]:
    """A character that can sit inside a word (:data:`~.base.WORD_RE`: a letter or an inner
    apostrophe) but is not a key of ``table``."""
    keys = "".join(re.escape(c) for c in sorted(table))
    return re.compile(f"[^{keys}\\W\\d_]|['\u2019]")


class CharInsert(_CharPerturbation):
    """Insert a letter inside a word (``hello`` -> ``hellio``).

    Eligible: insertion slots of eligible words, i.e. after each character (with
    ``keep_first=True`` never before the first one), including the end of the word. The
    inserted letter is a QWERTY neighbour of the preceding letter (a "fat finger" slip) when it
    has one, else a random lowercase ASCII letter; it is upper-cased when the preceding letter is.
    """

    name = "char_insert"

    def _sites(self, text: str) -> list[tuple[int, int]]:
        # slot p = insertion before text[p]; the word's editable part [s, e) has slots s .. e
        # (with keep_first, s already points past the first character)
        return [(p, p) for s, e in self._words(text) for p in range(s, e + 1)]

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        prev = text[start - 1] if start > 0 else ""
        ref = prev if prev.isalpha() else text[start : start + 1]
        neigh = QWERTY_NEIGHBOURS.get(prev.lower())
        new = rng.choice(neigh) if neigh else rng.choice(string.ascii_lowercase)
        return new.upper() if ref.isupper() else new


class CharDelete(_CharPerturbation):
    """Delete a character inside a word (``hello`` -> ``helo``). Eligible: characters of eligible
    words (with ``keep_first=True`` except the first)."""

    name = "char_delete"

    def _sites(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for s, e in self._words(text) for i in range(s, e)]

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        return ""


class CharSwap(_CharPerturbation):
    """Swap two adjacent characters of a word (``hello`` -> ``hlelo``).

    Eligible: pairs of adjacent, different characters inside eligible words (with
    ``keep_first=True`` the first character is never moved). Chosen swaps never overlap, so every
    swap changes exactly two characters.
    """

    name = "char_swap"
    _overlapping_sites = True

    def _sites(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 2) for s, e in self._words(text) for i in range(s, e - 1) if text[i] != text[i + 1]]

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        return text[start + 1] + text[start]


#: OCR confusions (source -> replacements). Multi-character sources are matched first.
OCR_TABLE: dict[str, list[str]] = {
    "rn": ["m"],
    "cl": ["d"],
    "vv": ["w"],
    "li": ["h"],
    "m": ["rn"],
    "d": ["cl"],
    "w": ["vv"],
    "l": ["1", "I"],
    "I": ["l", "1"],
    "i": ["l", "1"],
    "O": ["0"],
    "o": ["0"],
    "S": ["5"],
    "s": ["5"],
    "B": ["8"],
    "Z": ["2"],
    "z": ["2"],
    "g": ["9", "q"],
    "q": ["g"],
    "e": ["c"],
    "c": ["e"],
    "h": ["b"],
    "b": ["h", "6"],
    "u": ["v"],
    "v": ["u"],
    "n": ["h"],
    "t": ["f"],
    "f": ["t"],
    "E": ["F"],
    "F": ["E"],
    "C": ["G"],
    "G": ["C", "6"],
    "D": ["O"],
}


class OCRNoise(_CharPerturbation):
    """OCR-like confusions (``l``->``1``/``I``, ``O``->``0``, ``rn``->``m``, ``m``->``rn``,
    ``cl``->``d`` ...; see :data:`OCR_TABLE`, case-sensitive, or pass ``table``).

    Eligible: non-overlapping matches of the table in eligible words, found left to right with
    the longest source first (so ``rn`` is one site, not ``r`` + ``n``).
    """

    name = "ocr"

    def __init__(
        self,
        rate: float = 0.05,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        min_word_len: int = 3,
        keep_first: bool = True,
        table: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(rate, seed, protected_words, min_word_len, keep_first)
        src = OCR_TABLE if table is None else table
        self.table = {str(k): [str(v) for v in vs if str(v) != str(k)] for k, vs in src.items() if k}
        self.table = {k: v for k, v in self.table.items() if v}
        self._lengths = sorted({len(k) for k in self.table}, reverse=True)

    def _sites(self, text: str) -> list[tuple[int, int]]:
        sites = []
        table, lengths = self.table, self._lengths
        for s, e in self._words(text):
            i = s
            while i < e:
                for n in lengths:
                    if i + n <= e and text[i : i + n] in table:
                        sites.append((i, i + n))
                        i += n
                        break
                else:
                    i += 1
        return sites

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        return rng.choice(self.table[text[start:end]])


class CaseChange(_CharPerturbation):
    """Flip the case of letters (``hello`` -> ``heLlo``, ``Paris`` -> ``paris``).

    Eligible: cased letters of eligible words whose case flip is a single different character.
    Unlike the other character perturbations ``keep_first`` defaults to ``False`` here: a wrong
    capital at the start of a word is the most common case error.
    """

    name = "case"

    def __init__(
        self,
        rate: float = 0.05,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        min_word_len: int = 3,
        keep_first: bool = False,
    ) -> None:
        super().__init__(rate, seed, protected_words, min_word_len, keep_first)

    def _sites(self, text: str) -> list[tuple[int, int]]:
        out = []
        for s, e in self._words(text):
            for i in range(s, e):
                ch = text[i]
                sw = ch.swapcase()
                if sw != ch and len(sw) == 1:
                    out.append((i, i + 1))
        return out

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        return text[start].swapcase()
