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

import json
import logging
import os
import random
import string
from collections.abc import Iterator, Mapping, Sequence

from sua_exp.perturb.base import WORD_RE, Perturbation, num_edits

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


class KeyboardTypo(_CharPerturbation):
    """Replace letters by a QWERTY neighbour (``qwerty`` -> ``qwrrty``), preserving case.

    Eligible: letters of eligible words that have an entry in the keyboard map. The map comes
    from ``keyboard_file`` (nlpaug JSON format, e.g. ``${paths.data_dir}/lexicon/keyboard_en.json``)
    or, when ``None``/missing, the built-in geometric :data:`QWERTY_NEIGHBOURS`. With
    ``letters_only=True`` (default) digits/symbols listed as neighbours are dropped, so a typo
    never turns a word into a word-with-digits.
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

    def _sites(self, text: str) -> list[tuple[int, int]]:
        km = self.keymap
        return [(i, i + 1) for s, e in self._words(text) for i in range(s, e) if text[i].lower() in km]

    def _replacement(self, text: str, start: int, end: int, rng: random.Random) -> str:
        ch = text[start]
        new = rng.choice(self.keymap[ch.lower()])
        return new.upper() if ch.isupper() else new


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
