"""Offline WordNet 3.0 access for :class:`~sua_exp.perturb.word.SynonymSwap`.

The project's WordNet copy (``lexicon/wordnet/``, the Debian ``wordnet-base`` dict files) lacks the
``lexnames`` file that nltk's :class:`~nltk.corpus.reader.wordnet.WordNetCorpusReader` requires,
and nltk (>= 3.9) only opens corpus files under directories listed in ``nltk.data.path``. So the
dict files are copied once into a cache directory (``$SUA_CACHE_DIR/wordnet/<key>``, default
``~/.cache/sua_exp/wordnet/<key>``, where ``<key>`` hashes the source path, sizes and mtimes),
the standard 45-line ``lexnames`` file is written next to them, and that directory (only that one)
is appended to ``nltk.data.path``. Nothing is ever written into the source folder. A folder that
already has ``lexnames`` is used in place. The copy is atomic (temp dir + rename), so concurrent
workers are safe.

nltk 3.10's reader also tries to map "foreign" WordNet versions onto nltk's own ``wordnet``
download in its constructor (``map_wn``), which needs that download; this copy *is* WordNet 3.0,
the version nltk's mapping targets, so :class:`_LocalWordNetReader` disables the mapping.

Part of speech. nltk's POS tagger needs a model download (``averaged_perceptron_tagger_eng``),
unavailable offline, so :class:`WordNetSynonyms` uses a light heuristic instead: a cue from the
previous word (determiner/possessive -> noun, ``to``/modal -> verb, intensifier/copula ->
adjective, a copula before an ``-ing``/``-ed`` word -> verb), then ``-ly`` -> adverb, ``-ing``/``-ed``
forms of a verb -> verb, else the word's most frequent WordNet POS (SemCor tagged-sense count from
the index files, ties: more senses, then noun > verb > adj > adv). Synonyms are the lemmas of the
first ``max_senses`` senses (WordNet orders senses by frequency) of that POS; by default only
one-word synonyms that are themselves common (a SemCor-tagged sense in that POS) are used.

Inflection is kept simple: a word equal to its lemma gets synonyms as they are; a regular
plural noun / regular verb form (``-s``, ``-ed``, ``-ing``; checked by regenerating the word from
its lemma with the same rules) gets the synonyms inflected the same way (verbs inflect their
first word: ``look up`` -> ``looked up``; inflected nouns only take one-word synonyms; synonyms
with irregular forms are dropped). Irregular forms (``went``, ``mice``) and inflected adjectives
and adverbs (``happier``) are not substituted.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = [
    "LEXNAMES",
    "WordNetSynonyms",
    "context_pos",
    "cue_of",
    "default_cache_dir",
    "get_wordnet_synonyms",
    "load_wordnet",
    "pos_from_cue",
    "prepare_wordnet_dir",
]

#: The standard WordNet 3.0 ``lexnames`` file (lexicographer file number, name, syntactic category).
LEXNAMES: tuple[tuple[str, int], ...] = (
    ("adj.all", 3),
    ("adj.pert", 3),
    ("adv.all", 4),
    ("noun.Tops", 1),
    ("noun.act", 1),
    ("noun.animal", 1),
    ("noun.artifact", 1),
    ("noun.attribute", 1),
    ("noun.body", 1),
    ("noun.cognition", 1),
    ("noun.communication", 1),
    ("noun.event", 1),
    ("noun.feeling", 1),
    ("noun.food", 1),
    ("noun.group", 1),
    ("noun.location", 1),
    ("noun.motive", 1),
    ("noun.object", 1),
    ("noun.person", 1),
    ("noun.phenomenon", 1),
    ("noun.plant", 1),
    ("noun.possession", 1),
    ("noun.process", 1),
    ("noun.quantity", 1),
    ("noun.relation", 1),
    ("noun.shape", 1),
    ("noun.state", 1),
    ("noun.substance", 1),
    ("noun.time", 1),
    ("verb.body", 2),
    ("verb.change", 2),
    ("verb.cognition", 2),
    ("verb.communication", 2),
    ("verb.competition", 2),
    ("verb.consumption", 2),
    ("verb.contact", 2),
    ("verb.creation", 2),
    ("verb.emotion", 2),
    ("verb.motion", 2),
    ("verb.perception", 2),
    ("verb.possession", 2),
    ("verb.social", 2),
    ("verb.stative", 2),
    ("verb.weather", 2),
    ("adj.ppl", 3),
)

_POS_SUFFIX = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_REQUIRED = [f"{kind}.{suf}" for suf in _POS_SUFFIX.values() for kind in ("index", "data")] + [
    f"{suf}.exc" for suf in _POS_SUFFIX.values()
]


def default_cache_dir() -> Path:
    """``$SUA_CACHE_DIR``, else ``$XDG_CACHE_HOME/sua_exp``, else ``~/.cache/sua_exp``."""
    env = os.environ.get("SUA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sua_exp"


def _lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(LEXNAMES))


def prepare_wordnet_dir(wordnet_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return a directory nltk's reader can open: ``wordnet_dir`` itself when it has ``lexnames``,
    else a cached copy with ``lexnames`` added (created once, atomically)."""
    src = Path(wordnet_dir).expanduser().resolve()
    if not src.is_dir():
        raise FileNotFoundError(f"WordNet folder not found: {src}")
    missing = [f for f in _REQUIRED if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(f"WordNet folder {src} lacks {', '.join(missing)}")
    if (src / "lexnames").is_file():
        return src
    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    h = hashlib.blake2b(digest_size=8)
    h.update(str(src).encode())
    for p in files:
        st = p.stat()
        h.update(f"\x1f{p.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}".encode())
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = (root / "wordnet").resolve()
    dst = root / h.hexdigest()
    if (dst / ".complete").is_file():
        return dst
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        for p in files:
            shutil.copyfile(p, tmp / p.name)
        (tmp / "lexnames").write_text(_lexnames_text(), encoding="utf-8")
        (tmp / ".complete").write_text(f"copied from {src}\n", encoding="utf-8")
        try:
            os.rename(tmp, dst)
        except OSError:
            if not (dst / ".complete").is_file():  # lost a race to a partial dir: replace it
                shutil.rmtree(dst, ignore_errors=True)
                os.rename(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dst


_READERS: dict[str, object] = {}
_LEXICONS: dict[tuple[str, int], WordNetSynonyms] = {}
_LOCK = threading.Lock()


def load_wordnet(wordnet_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
    """An nltk ``WordNetCorpusReader`` on ``wordnet_dir`` (cached per process and folder)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _LocalWordNetReader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # this copy is WordNet 3.0 itself: no mapping
            return None

    key = str(Path(wordnet_dir).expanduser().resolve())
    with _LOCK:
        if key in _READERS:
            return _READERS[key]
        root = str(prepare_wordnet_dir(wordnet_dir, cache_dir))
        if root not in nltk.data.path:
            nltk.data.path.append(root)  # nltk's path sandbox only opens files under these
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available"
            reader = _LocalWordNetReader(root, None)
        _READERS[key] = reader
        return reader


# ----------------------------------------------------------------------------- inflection
_VOWELS = frozenset("aeiou")
_SYNONYM_RE = re.compile(r"^[a-z][a-z'\- ]*[a-z]$")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # syntactic marker on adjectives: galore(ip)


def _syllables(w: str) -> int:
    return len(re.findall(r"[aeiouy]+", w))


def _double_final(w: str) -> bool:
    return (
        len(w) >= 3
        and w[-1] not in "aeiouwxy"
        and w[-2] in _VOWELS
        and w[-3] not in _VOWELS
        and _syllables(w) == 1
    )


def add_s(w: str) -> str:
    """Regular plural / third person singular."""
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    if len(w) > 1 and w.endswith("y") and w[-2] not in _VOWELS:
        return w[:-1] + "ies"
    return w + "s"


def add_ed(w: str) -> str:
    """Regular past tense / past participle."""
    if w.endswith("e"):
        return w + "d"
    if len(w) > 1 and w.endswith("y") and w[-2] not in _VOWELS:
        return w[:-1] + "ied"
    if _double_final(w):
        return w + w[-1] + "ed"
    return w + "ed"


def add_ing(w: str) -> str:
    """Regular present participle."""
    if w.endswith("ie"):
        return w[:-2] + "ying"
    if len(w) > 2 and w.endswith("e") and not w.endswith(("ee", "ye", "oe")):
        return w[:-1] + "ing"
    if _double_final(w):
        return w + w[-1] + "ing"
    return w + "ing"


_INFLECT = {"s": add_s, "ed": add_ed, "ing": add_ing}

# ----------------------------------------------------------------------------- POS cues
_NOUN_CUES = frozenset(
    "a an the this that these those my your his her its our their some any each every no "
    "another either neither several many few much more most".split()
)
_VERB_CUES = frozenset(
    "to will would can could should may might must shall do does did don't doesn't didn't "
    "won't wouldn't can't couldn't shouldn't let lets".split()
)
_BE = frozenset("is are was were be been being am 's 're".split())
_ADJ_CUES = frozenset("very so too quite rather really extremely less least seems seem looks".split()) | _BE


#: Previous word -> its cue: "n", "v", "a", or "be" (a copula: verb before an -ing/-ed word, else
#: adjective). Built lowest precedence first, so a word in several cue sets keeps the strongest.
_CUES: dict[str, str] = {
    **dict.fromkeys(_ADJ_CUES, "a"),
    **dict.fromkeys(_BE, "be"),
    **dict.fromkeys(_VERB_CUES, "v"),
    **dict.fromkeys(_NOUN_CUES, "n"),
}


def cue_of(prev: str | None) -> str | None:
    """The cue class of a (lower-cased) previous word, or None: all of it that :func:`context_pos`
    needs, so callers can cache per (cue, word) rather than per word pair."""
    return _CUES.get(prev) if prev else None


def pos_from_cue(cue: str | None, word: str) -> str | None:
    """The POS hint of ``word`` after a word of cue class ``cue`` (see :func:`cue_of`)."""
    if cue == "be":
        return "v" if word.endswith(("ing", "ed")) else "a"
    return cue


def context_pos(prev: str | None, word: str) -> str | None:
    """POS suggested by the previous word (lower-cased) for ``word``: 'n', 'v', 'a' or None."""
    return pos_from_cue(cue_of(prev), word)


class WordNetSynonyms:
    """Synonym candidates from WordNet with the POS and inflection rules of the module docstring."""

    def __init__(self, wordnet_dir: str | os.PathLike, max_senses: int | None = 3, cache_dir=None) -> None:
        self.wordnet_dir = str(wordnet_dir)
        self.max_senses = max_senses
        self.wn = load_wordnet(wordnet_dir, cache_dir)
        root = Path(self.wn.root.path if hasattr(self.wn.root, "path") else str(self.wn.root))
        # (lemma, pos) -> (SemCor tagged-sense count, number of senses, first synset offsets),
        # read from the index files (nltk's reader does not expose the tagged-sense counts)
        self._index: dict[tuple[str, str], tuple[int, int, tuple[int, ...]]] = {}
        keep = max_senses if max_senses is not None else None
        for pos, suf in _POS_SUFFIX.items():
            with open(root / f"index.{suf}", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(" "):
                        continue
                    fs = line.split()
                    n_syn = int(fs[2])
                    first = 6 + int(fs[3])
                    offs = fs[first : first + (n_syn if keep is None else min(n_syn, keep))]
                    self._index[(fs[0], pos)] = (int(fs[first - 1]), n_syn, tuple(map(int, offs)))
        # bases with irregular forms (from the .exc files): not inflected by the regular rules
        self._irregular: dict[str, set[str]] = {"n": set(), "v": set()}
        for pos in ("n", "v"):
            with open(root / f"{_POS_SUFFIX[pos]}.exc", encoding="utf-8") as f:
                for line in f:
                    fs = line.split()
                    self._irregular[pos].update(fs[1:])
        # synset words are read straight from the memory-mapped data files: nltk's Synset objects
        # parse pointers, frames and glosses too (~100 us each), too slow for long texts
        self._data: dict[str, mmap.mmap] = {}
        for pos, suf in _POS_SUFFIX.items():
            with open(root / f"data.{suf}", "rb") as f:
                self._data[pos] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._words_cache: dict[tuple[str, int], tuple[str, ...]] = {}
        self._cache: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def synset_words(self, pos: str, offset: int) -> tuple[str, ...]:
        """Lemma names (WordNet spelling, ``_`` for spaces) of the synset at ``offset``; the same
        as nltk's ``synset_from_pos_and_offset(pos, offset).lemma_names()``."""
        key = (pos, offset)
        hit = self._words_cache.get(key)
        if hit is not None:
            return hit
        mm = self._data[pos]
        end = mm.find(b"\n", offset)
        head = mm[offset : end if end >= 0 else len(mm)].decode("utf-8").split(" ", 4)
        n = int(head[3], 16)  # "offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] ..."
        rest = head[4].split(" ", 2 * n)
        words = tuple(_ADJ_MARKER.sub("", rest[2 * i]) for i in range(n))
        self._words_cache[key] = words
        return words

    # ------------------------------------------------------------------ analysis
    def analyses(self, w: str) -> list[tuple[str, str]]:
        """(pos, lemma) pairs WordNet's morphy finds for the lower-cased word ``w``."""
        out = []
        for pos in ("n", "v", "a", "r"):
            lemma = self.wn.morphy(w, pos)
            if lemma is not None:
                out.append((pos, lemma))
        return out

    def choose_pos(self, w: str, hint: str | None) -> tuple[str, str] | None:
        an = self.analyses(w)
        if not an:
            return None
        by_pos = dict(an)
        if hint in by_pos:
            return hint, by_pos[hint]
        if w.endswith("ly") and "r" in by_pos:
            return "r", by_pos["r"]
        if w.endswith(("ing", "ed")) and "v" in by_pos and by_pos["v"] != w:
            return "v", by_pos["v"]
        order = {"n": 0, "v": 1, "a": 2, "r": 3}

        def rank(pl: tuple[str, str]) -> tuple[int, int, int]:
            tagged, n_senses, _ = self._index.get((pl[1], pl[0]), (0, 0, ()))
            return tagged, n_senses, -order[pl[0]]

        return max(an, key=rank)

    def _inflection(self, w: str, pos: str, lemma: str) -> str | None:
        """'' for the base form, 's'/'ed'/'ing' for a regular inflection, None otherwise."""
        if w == lemma:
            return ""
        if pos == "n":
            return "s" if add_s(lemma) == w else None
        if pos == "v":
            for tag, fn in _INFLECT.items():
                if fn(lemma) == w:
                    return tag
        return None

    def is_common(self, lemma: str, pos: str) -> bool:
        """True when ``lemma`` has a SemCor-tagged sense in ``pos`` (tagsense_cnt > 0)."""
        return self._index.get((lemma.replace(" ", "_"), pos), (0, 0, ()))[0] > 0

    def synonyms(
        self, word: str, hint: str | None = None, multiword: bool = False, common_only: bool = True
    ) -> tuple[str, ...]:
        """Lower-case synonym candidates for ``word`` (any case), inflected like ``word``.

        ``hint``: POS suggested by the context (:func:`context_pos`). ``multiword``: also return
        synonyms of several words (``bring out`` for ``unveil``). ``common_only``: only synonyms
        with a SemCor-tagged sense in that POS (drops rare lemmas such as ``cognise``, ``nigh``).
        """
        w = word.lower()
        key = (w, hint, multiword, common_only)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out: tuple[str, ...] = ()
        choice = self.choose_pos(w, hint)
        if choice is not None:
            pos, lemma = choice
            infl = self._inflection(w, pos, lemma)
            if infl is not None:
                out = self._candidates(w, pos, lemma, infl, multiword, common_only)
        self._cache[key] = out
        return out

    def _candidates(
        self, w: str, pos: str, lemma: str, infl: str, multiword: bool, common_only: bool
    ) -> tuple[str, ...]:
        offsets = self._index.get((lemma, pos), (0, 0, ()))[2]
        seen = {w, lemma}
        out = []
        for off in offsets:
            for name in self.synset_words(pos, off):
                cand = name.replace("_", " ")
                if cand in seen or not _SYNONYM_RE.match(cand):
                    continue
                seen.add(cand)
                parts = cand.split(" ")
                if (len(parts) > 1 and not multiword) or (common_only and not self.is_common(cand, pos)):
                    continue
                if infl:
                    if pos == "n":
                        if len(parts) > 1 or cand in self._irregular["n"]:
                            continue
                        cand = add_s(cand)
                    else:
                        if parts[0] in self._irregular["v"]:
                            continue
                        cand = " ".join([_INFLECT[infl](parts[0]), *parts[1:]])
                    if cand == w:
                        continue
                out.append(cand)
        return tuple(out)


def get_wordnet_synonyms(
    wordnet_dir: str | os.PathLike, max_senses: int | None = 3, cache_dir=None
) -> WordNetSynonyms:
    """Process-wide shared :class:`WordNetSynonyms` per (folder, max_senses)."""
    key = (str(Path(wordnet_dir).expanduser().resolve()), -1 if max_senses is None else int(max_senses))
    lex = _LEXICONS.get(key)
    if lex is None:
        lex = WordNetSynonyms(wordnet_dir, max_senses=max_senses, cache_dir=cache_dir)
        _LEXICONS[key] = lex
    return lex
