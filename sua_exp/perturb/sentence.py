"""Sentence-level perturbations: disfluency insertion and distractor sentences."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

from sua_exp.perturb.base import WORD_RE, Perturbation, num_edits

__all__ = ["NEUTRAL_FACTS", "Disfluency", "Distractor"]


class Disfluency(Perturbation):
    """Insert spoken-language disfluencies (Disfl-QA style) before words.

    Eligible: the slot before each word, except slots inside a protected phrase (between two
    protected words). At each chosen slot either a filler (``uh``, ``um``, ``I mean`` ...) is
    inserted (``what is uh the capital``) or, with probability ``restart_prob``, a restart: the
    next 1..``max_restart_len`` words are said twice (``what is the the capital``, ``is the is the
    capital``); a restart never repeats a protected word (it falls back to a filler). Original
    words are never changed, so the original text is a subsequence of the output.
    """

    name = "disfluency"

    def __init__(
        self,
        rate: float = 0.1,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        fillers: Sequence[str] = ("uh", "um", "I mean", "you know", "like"),
        restart_prob: float = 0.3,
        max_restart_len: int = 2,
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        self.fillers = [str(f) for f in fillers if str(f).strip()]
        if not self.fillers:
            raise ValueError("fillers must not be empty")
        if not 0.0 <= restart_prob <= 1.0:
            raise ValueError(f"restart_prob must lie in [0, 1], got {restart_prob}")
        if max_restart_len < 1:
            raise ValueError(f"max_restart_len must be >= 1, got {max_restart_len}")
        self.restart_prob = float(restart_prob)
        self.max_restart_len = int(max_restart_len)

    def _slots(self, text: str) -> tuple[list[tuple[int, int]], list[bool], list[int]]:
        spans = [m.span() for m in WORD_RE.finditer(text)]
        prot = [self.is_protected(text[s:e]) for s, e in spans]
        slots = [i for i in range(len(spans)) if not (i > 0 and prot[i - 1] and prot[i])]
        return spans, prot, slots

    def count_eligible(self, text: str) -> int:
        return len(self._slots(text)[2])

    def perturb_one(self, text: str, rng: random.Random) -> str:
        spans, prot, slots = self._slots(text)
        k = num_edits(self.rate, len(slots))
        if k == 0:
            return text
        chosen = sorted(rng.sample(slots, k))
        out = []
        prev = 0
        for i in chosen:
            s = spans[i][0]
            out.append(text[prev:s])
            insert = None
            if rng.random() < self.restart_prob:
                n = rng.randint(1, self.max_restart_len)
                j = min(len(spans), i + n)
                if not any(prot[i:j]):
                    insert = text[s : spans[j - 1][1]] + " "
            if insert is None:
                insert = rng.choice(self.fillers) + " "
            out.append(insert)
            prev = s
        out.append(text[prev:])
        return "".join(out)


#: Built-in neutral, well-known facts used as distractor sentences (no sentiment, no negation, no
#: sarcasm, no questions, no people or groups).
NEUTRAL_FACTS: tuple[str, ...] = (
    "The Pacific Ocean is the largest ocean on Earth.",
    "Water boils at 100 degrees Celsius at sea level.",
    "A week has seven days.",
    "The Moon orbits the Earth roughly once a month.",
    "Mount Everest is the highest mountain above sea level.",
    "Light travels faster than sound.",
    "The Sahara is a large desert in northern Africa.",
    "A triangle has three sides.",
    "Jupiter is the largest planet in the solar system.",
    "The Nile is one of the longest rivers in the world.",
    "Penguins live mostly in the Southern Hemisphere.",
    "There are twelve months in a year.",
    "Paris is the capital of France.",
    "The human heart has four chambers.",
    "Honey is made by bees from flower nectar.",
    "A decade is a period of ten years.",
    "Copper is a good conductor of electricity.",
    "The Earth rotates once about its axis every day.",
    "Oxygen makes up about a fifth of the air.",
    "The Amazon rainforest is located in South America.",
    "A hexagon has six sides.",
    "Ice is the solid form of water.",
    "The alphabet used for English has twenty-six letters.",
    "Mercury is the planet closest to the Sun.",
    "Maple trees are common in Canada.",
    "A kilometre is one thousand metres.",
    "Whales are mammals that live in the ocean.",
    "The Atlantic Ocean lies between Europe and the Americas.",
    "Plants use sunlight to make their food.",
    "Tokyo is the capital of Japan.",
    "Sound needs a medium such as air to travel.",
    "A leap year has 366 days.",
    "The Danube flows through several European countries.",
    "Snow is common in winter in northern regions.",
    "An octopus has eight arms.",
    "Diamonds are a form of carbon.",
    "The Sun rises in the east.",
    "Rainbows appear when sunlight passes through raindrops.",
    "Most bicycles have two wheels.",
    "The equator divides the Earth into two hemispheres.",
)


_TERMINATORS = (".", "!", "?", "\u2026")
_CLOSERS = "\"')]}\u2019\u201d\u00bb"


class Distractor(Perturbation):
    """Add an irrelevant neutral sentence (``... recipes. Paris is the capital of France.``).

    Sentences come from ``sentences`` (a list), else ``sentences_file`` (one per line), else
    :data:`NEUTRAL_FACTS`. ``position`` is ``"end"`` (default) or ``"start"``. With ``terminate``
    (default) a text that does not end in ``.``/``!``/``?``/``…`` (possibly followed by closing
    quotes or brackets) gets a ``.`` before an appended sentence. Eligible: any text with at least one letter or digit (1 position); ``num_sentences``
    distinct sentences are added whatever ``rate`` is (``rate == 0`` still means identity).
    """

    name = "distractor"

    def __init__(
        self,
        rate: float = 0.1,
        seed: int = 0,
        protected_words: Sequence[str] = (),
        sentences: Sequence[str] | None = None,
        sentences_file: str | None = None,
        position: str = "end",
        num_sentences: int = 1,
        terminate: bool = True,
        separator: str = " ",
    ) -> None:
        super().__init__(rate=rate, seed=seed, protected_words=protected_words)
        if sentences is not None:
            pool = [str(s).strip() for s in sentences]
        elif sentences_file is not None:
            if not os.path.isfile(sentences_file):
                raise FileNotFoundError(f"distractor sentences file not found: {sentences_file}")
            with open(sentences_file, encoding="utf-8") as f:
                pool = [line.strip() for line in f]
        else:
            pool = list(NEUTRAL_FACTS)
        self.sentences = [s for s in pool if s]
        if not self.sentences:
            raise ValueError("no distractor sentences")
        if position not in ("end", "start"):
            raise ValueError(f"position must be 'end' or 'start', got {position!r}")
        if num_sentences < 1:
            raise ValueError(f"num_sentences must be >= 1, got {num_sentences}")
        self.position = position
        self.num_sentences = min(int(num_sentences), len(self.sentences))
        self.terminate = bool(terminate)
        self.separator = str(separator)

    def count_eligible(self, text: str) -> int:
        return 1 if any(ch.isalnum() for ch in text) else 0

    def perturb_one(self, text: str, rng: random.Random) -> str:
        if self.rate <= 0 or not self.count_eligible(text):
            return text
        extra = self.separator.join(rng.sample(self.sentences, self.num_sentences))
        if self.position == "start":
            return extra + self.separator + text
        core = text.rstrip()
        trail = text[len(core) :]
        if self.terminate and not core.rstrip(_CLOSERS).endswith(_TERMINATORS):
            core += "."
        return core + self.separator + extra + trail
