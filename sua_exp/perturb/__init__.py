"""Text perturbations (DESIGN section 3): seeded, batched, composable, pure Python on strings.

Every class is a :class:`Perturbation`: ``p(texts, view=0, seed=None) -> list[str]`` and
``p.neighbourhood(texts, num_views, seed=None) -> [N][M]``; the output for a text depends only on
(seed, name, view, text). One class + one YAML in ``conf/perturbation/`` adds a perturbation::

    class Shout(Perturbation):          # sua_exp/perturb/mine.py
        name = "shout"

        def perturb_one(self, text, rng):  # all randomness from rng
            return text.upper() if self.rate > 0 else text

    # conf/perturbation/shout.yaml
    _target_: sua_exp.perturb.mine.Shout
    rate: 1.0

Rates, eligibility and protected words: see :mod:`sua_exp.perturb.base`; WordNet handling and the
POS heuristic: :mod:`sua_exp.perturb.wordnet`.

Beyond text perturbations: the greedy WordNet attack (:mod:`sua_exp.perturb.attack`, config group
``attack``), the ambiguity builders (:mod:`sua_exp.perturb.ambiguity`) and the embedding-space
perturbations (:mod:`sua_exp.perturb.embedding`, ``space = "embedding"``; configs under
``conf/perturbation/embedding/``).
"""

from sua_exp.perturb.ambiguity import (
    ambivalent_examples,
    bbq_disambiguating_sentences,
    mix_pairs,
    read_bbq_ambiguous,
    read_disambiguation_qa_ambiguous,
    strip_bbq_disambiguation,
    strip_disambiguating,
)
from sua_exp.perturb.attack import AttackResult, GreedyWordSubstitution, attack_summary
from sua_exp.perturb.base import WORD_RE, Perturbation, match_case, num_edits, stable_key
from sua_exp.perturb.character import (
    QWERTY_NEIGHBOURS,
    CaseChange,
    CharDelete,
    CharInsert,
    CharSwap,
    KeyboardTypo,
    OCRNoise,
    load_keyboard_map,
)
from sua_exp.perturb.embedding import EmbeddingGaussian, EmbeddingPerturbation, EmbeddingPGD
from sua_exp.perturb.pipeline import Mixture, Pipeline
from sua_exp.perturb.sentence import NEUTRAL_FACTS, Disfluency, Distractor
from sua_exp.perturb.word import (
    STOP_WORDS,
    LocalShuffle,
    Misspelling,
    SynonymSwap,
    WordDeletion,
    WordRepetition,
    load_spelling_dict,
)

__all__ = [
    "NEUTRAL_FACTS",
    "QWERTY_NEIGHBOURS",
    "AttackResult",
    "STOP_WORDS",
    "WORD_RE",
    "CaseChange",
    "CharDelete",
    "CharInsert",
    "CharSwap",
    "Disfluency",
    "Distractor",
    "EmbeddingGaussian",
    "EmbeddingPGD",
    "EmbeddingPerturbation",
    "GreedyWordSubstitution",
    "KeyboardTypo",
    "LocalShuffle",
    "Misspelling",
    "Mixture",
    "OCRNoise",
    "Perturbation",
    "Pipeline",
    "SynonymSwap",
    "WordDeletion",
    "WordRepetition",
    "ambivalent_examples",
    "attack_summary",
    "bbq_disambiguating_sentences",
    "load_keyboard_map",
    "load_spelling_dict",
    "match_case",
    "mix_pairs",
    "num_edits",
    "read_bbq_ambiguous",
    "read_disambiguation_qa_ambiguous",
    "stable_key",
    "strip_bbq_disambiguation",
    "strip_disambiguating",
]
