"""Causal-LM adapter for generative QA: prompts in, M sampled answers out, clustered into p(.|x).

Sampling (`AnswerSampler`). Each user turn is chat-templated (`sua_exp.models.causal_lm.ChatLM`,
the same loader and template handling as the option scorer) and the model draws `num_samples`
answers with ``generate(do_sample=True, temperature, top_p, top_k, max_new_tokens)``, stopping at
the end-of-turn token or at `stop` (a newline by default; the text is also cut there). A
one-character stop ends a row at any token containing it (these tokens join the eos ids);
a longer one goes through ``stop_strings``.

Reproducibility. Every distinct prompt is generated on its own, with the torch RNG seeded by a
hash of ``(seed, prompt)`` (and restored afterwards): the same seed and prompt give the same
answers whatever else is in the call, in whatever order; identical prompts are generated once.
The M samples of a prompt run as one batch of M rows; with ``share_prompt_cache`` the prompt is
run once and its KV cache copied to the M rows (the same answers as M full prompts up to float
rounding; measured: 2.8 s instead of 4.2 s per 240-token SQuAD prompt, SmolLM2, M = 5, one
CPU thread).

Clusters and distributions. Answers are clustered by their SQuAD-normalized text
(`sua_exp.evaluation.squad.normalize_answer`: lowercase, no punctuation, no articles, single
spaces); an empty normalized answer is a cluster of its own (""). For V views of one input
(clean, perturbed, ...), `cluster_views` builds the UNION of the clusters of all views, ordered
by first appearance (view 0's samples in order, then view 1's, ...), and each view's row is its
cluster frequencies over that shared order, so divergences compare the views position by
position. The modal answer of a view is its most frequent cluster, ties going to the cluster
that appears first in that order (for view 0: the earliest sampled). Optional add-epsilon
smoothing: ``p_v(k) = (c_vk + eps) / (M_v + eps * K)`` over the K union clusters (eps = 0, the
default, keeps the raw frequencies; eps > 0 keeps divergences such as KL finite when one view
never produced another view's answer). Self-consistency is the modal-cluster frequency: the
samples are returned as one-hot rows [V, M, K] for `core.modal_frequency`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sua_exp.evaluation.squad import normalize_answer
from sua_exp.models.causal_lm import ChatLM

log = logging.getLogger("sua_exp")

__all__ = [
    "AnswerClusters",
    "AnswerSampler",
    "GridDistributions",
    "cluster_key",
    "cluster_views",
    "grid_distributions",
    "prompt_seed",
]


def cluster_key(answer: str) -> str:
    """The cluster of an answer: its SQuAD-normalized text ("" for an empty answer)."""
    return normalize_answer(answer)


def prompt_seed(seed: int, prompt: str) -> int:
    """The sampling seed of one prompt: a 63-bit hash of (seed, prompt), independent of the batch."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{prompt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class AnswerClusters:
    """The clusters of the sampled answers of V views of one input.

    `keys` [K]: normalized answer of each cluster, in union order (first appearance);
    `surface` [K]: the most frequent raw answer of each cluster (ties: first sampled);
    `assignments` [V][M_v]: cluster index of each sample; `counts` [V, K]: samples per cluster.
    """

    keys: tuple[str, ...]
    surface: tuple[str, ...]
    assignments: tuple[tuple[int, ...], ...]
    counts: Tensor

    @property
    def num_clusters(self) -> int:
        return len(self.keys)

    def probs(self, smoothing: float = 0.0) -> Tensor:
        """[V, K] cluster frequencies per view, all rows over the same cluster order (sum to 1)."""
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        counts = self.counts.double() + smoothing
        return (counts / counts.sum(-1, keepdim=True)).float()

    def one_hots(self) -> Tensor:
        """[V, M, K] one-hot cluster of every sample (views must have the same number of samples)."""
        sizes = {len(a) for a in self.assignments}
        if len(sizes) != 1:
            raise ValueError(f"views have different numbers of samples: {sorted(sizes)}")
        idx = torch.tensor(self.assignments, dtype=torch.long)
        return torch.nn.functional.one_hot(idx, self.num_clusters).float()

    def modal(self, view: int = 0) -> int:
        """Index of the modal cluster of a view (ties: the first in cluster order)."""
        return int(self.counts[view].argmax())


def cluster_views(samples: Sequence[Sequence[str]]) -> AnswerClusters:
    """Cluster the answers of V views of one input by normalized text, over the union of clusters."""
    if not samples or any(len(view) == 0 for view in samples):
        raise ValueError("every view needs at least one sampled answer")
    index: dict[str, int] = {}
    surfaces: list[Counter] = []
    assignments = []
    for view in samples:
        row = []
        for answer in view:
            key = cluster_key(answer)
            if key not in index:
                index[key] = len(index)
                surfaces.append(Counter())
            surfaces[index[key]][answer.strip()] += 1
            row.append(index[key])
        assignments.append(tuple(row))
    counts = torch.zeros(len(samples), len(index), dtype=torch.long)
    for v, row in enumerate(assignments):
        counts[v] += torch.bincount(torch.tensor(row), minlength=len(index))
    # Counter.most_common keeps first-insertion order among ties: the first sampled form wins
    surface = tuple(c.most_common(1)[0][0] for c in surfaces)
    return AnswerClusters(tuple(index), surface, tuple(assignments), counts)


@dataclass(frozen=True)
class GridDistributions:
    """Cluster distributions of N inputs x V views, padded to the largest union size Kmax.

    `probs` [N, V, Kmax] (zeros beyond each input's K), `samples` [N, V, M, Kmax] one-hot,
    `clusters` [N] the `AnswerClusters` of each input (their `keys` give the column meanings).
    """

    probs: Tensor
    samples: Tensor
    clusters: list[AnswerClusters]

    @property
    def num_clusters(self) -> Tensor:
        return torch.tensor([c.num_clusters for c in self.clusters], dtype=torch.long)


def grid_distributions(grid: Sequence[Sequence[Sequence[str]]], smoothing: float = 0.0) -> GridDistributions:
    """[N][V][M] sampled answers -> per-input union clusters and padded distributions."""
    clusters = [cluster_views(views) for views in grid]
    n = len(clusters)
    v = max((len(c.assignments) for c in clusters), default=0)
    m = max((len(a) for c in clusters for a in c.assignments), default=0)
    kmax = max((c.num_clusters for c in clusters), default=0)
    probs = torch.zeros(n, v, kmax)
    samples = torch.zeros(n, v, m, kmax)
    for i, c in enumerate(clusters):
        if len(c.assignments) != v:
            raise ValueError(f"input {i} has {len(c.assignments)} views, expected {v}")
        k = c.num_clusters
        probs[i, :, :k] = c.probs(smoothing)
        samples[i, :, :, :k] = c.one_hots()
    return GridDistributions(probs, samples, clusters)


#: (tokenizer name, vocabulary size, stop) -> ids of the tokens containing the stop character
_STOP_IDS: dict[tuple[str, int, str], list[int]] = {}


def _copy_cache_rows(cache: Any, repeats: int) -> Any:
    """The prompt's KV cache (batch 1) repeated for `repeats` rows."""
    if hasattr(cache, "batch_repeat_interleave"):
        cache.batch_repeat_interleave(repeats)
        return cache
    raise TypeError(f"cannot repeat the rows of a {type(cache).__name__} KV cache")


class AnswerSampler(ChatLM):
    """Temperature sampling of short answers with a causal LM under its chat template.

    Loading (`pretrained` / `config` / `tokenizer` / `dtype` / `device` / `init_seed`) and prompt
    rendering are those of `OptionScorer` (`sua_exp.models.causal_lm.ChatLM`). `num_samples` (M,
    >= 2) answers per prompt at `temperature`, nucleus `top_p` (1.0: off), `top_k` (0: off), at
    most `max_new_tokens` tokens, cut at `stop` (null: only the end-of-turn token stops).
    `smoothing` is the add-epsilon of the cluster distributions (`distributions`).
    """

    def __init__(
        self,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        num_samples: int = 5,
        temperature: float = 0.8,
        top_p: float = 0.95,
        top_k: int = 0,
        max_new_tokens: int = 24,
        stop: str | None = "\n",
        share_prompt_cache: bool = True,
        smoothing: float = 0.0,
        system_prompt: str | None = None,
        use_chat_template: bool = True,
        max_prompt_tokens: int = 2048,
        dtype: str = "float32",
        device: str | None = None,
        init_seed: int = 0,
    ) -> None:
        if num_samples < 2:
            raise ValueError(f"num_samples must be >= 2 (self-consistency needs samples), got {num_samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {top_k}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if stop == "":
            raise ValueError("stop must be a non-empty string or null")
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        super().__init__(
            pretrained=pretrained,
            config=config,
            tokenizer=tokenizer,
            system_prompt=system_prompt,
            use_chat_template=use_chat_template,
            max_prompt_tokens=max_prompt_tokens,
            dtype=dtype,
            device=device,
            init_seed=init_seed,
        )
        self.num_samples = int(num_samples)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = int(top_k)
        self.max_new_tokens = int(max_new_tokens)
        self.stop = stop
        self.share_prompt_cache = bool(share_prompt_cache)
        self.smoothing = float(smoothing)
        forward_params = inspect.signature(self.model.forward).parameters
        # transformers >= 5 names the KV cache `cache`, older versions `past_key_values`
        self._cache_key = "cache" if "cache" in forward_params else "past_key_values"

    # ------------------------------------------------------------------ sampling
    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": self.pad_id,
            "num_beams": 1,
        }
        stop_ids = [self.eot_id] if self.eot_id is not None else []
        if self.stop is not None and len(self.stop) == 1:
            # a one-character stop ends a row at any token whose text contains it: as cheap as
            # eos (a stop_strings criterion costs ~0.3 s of setup per generate call)
            stop_ids += self._stop_token_ids()
        elif self.stop is not None:
            kwargs["stop_strings"] = [self.stop]
            kwargs["tokenizer"] = self.tokenizer
        if stop_ids:
            kwargs["eos_token_id"] = list(dict.fromkeys(stop_ids))
        return kwargs

    def _stop_token_ids(self) -> list[int]:
        """Ids of the tokens whose decoded text contains the one-character `stop` (cached per
        tokenizer and stop: one pass over the vocabulary, ~1 s for SmolLM2's 49k tokens)."""
        key = (self.tokenizer.name_or_path, len(self.tokenizer), self.stop)
        if key not in _STOP_IDS:
            texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            _STOP_IDS[key] = [i for i, t in enumerate(texts) if self.stop in t]
        return _STOP_IDS[key]

    def _decode(self, tokens: Tensor) -> str:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if self.stop is not None:
            text = text.split(self.stop, 1)[0]
        return text.strip()

    @torch.inference_mode()
    def _sample_one(self, user_text: str, seed: int) -> list[str]:
        ids = torch.tensor([self.prompt_ids(user_text)], dtype=torch.long, device=self.device)
        m, width = self.num_samples, ids.shape[1]
        kwargs = self._generation_kwargs()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(prompt_seed(seed, user_text))
            if self.share_prompt_cache and width > 1:
                # run the prompt (all but its last token) once; generate continues from its cache
                # (the decoder alone: no LM-head logits for the prompt positions)
                decoder = self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model.model
                out = decoder(input_ids=ids[:, :-1], use_cache=True)
                kwargs[self._cache_key] = _copy_cache_rows(getattr(out, self._cache_key), m)
            rows = ids.repeat(m, 1)
            out_ids = self.model.generate(rows, attention_mask=torch.ones_like(rows), **kwargs)
        return [self._decode(row[width:]) for row in out_ids.cpu()]

    def sample(self, prompts: Sequence[str], seed: int, desc: str | None = None) -> list[list[str]]:
        """M answers per user turn (identical turns are generated once and share their answers)."""
        prompts = list(prompts)
        unique = list(dict.fromkeys(prompts))
        answers: dict[str, list[str]] = {}
        for text in tqdm(
            unique, desc=desc or f"sampling {self.num_samples} answers", leave=False, disable=len(unique) < 8
        ):
            answers[text] = self._sample_one(text, seed)
        return [list(answers[p]) for p in prompts]

    def sample_grid(self, grid: Sequence[Sequence[str]], seed: int) -> list[list[list[str]]]:
        """[N][V] user turns -> [N][V][M] answers, in one call (identical turns generated once)."""
        sizes = [len(row) for row in grid]
        flat = self.sample([p for row in grid for p in row], seed, desc=f"sampling {len(grid)} inputs")
        out, start = [], 0
        for size in sizes:
            out.append(flat[start : start + size])
            start += size
        return out

    def distributions(self, grid: Sequence[Sequence[str]], seed: int) -> tuple[GridDistributions, list]:
        """[N][V] user turns (the views of each input) -> cluster distributions over the union of
        each input's clusters (`grid_distributions`), and the [N][V][M] raw answers."""
        answers = self.sample_grid(grid, seed)
        return grid_distributions(answers, self.smoothing), answers
