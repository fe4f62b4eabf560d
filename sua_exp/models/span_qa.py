"""Extractive QA adapter: (question, context) strings in, a distribution over answer spans out.

The predictive distribution of DESIGN section 1 for extractive QA is over *candidate answers*:
the top-k (start, end) token pairs of each view, mapped back to character spans of the shared
context, grouped by SQuAD-normalized text (the logsumexp of their start+end logits) and
softmaxed per view. `span_distribution` scores the *union* of the candidates of the clean and
perturbed views in every view, so all views share one answer set and
`sua_exp.core.sensitivity` can compare them position by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sua_exp.evaluation.squad import normalize_answer
from sua_exp.models.encoders import build_encoder

__all__ = ["PAD_LOGIT", "AlignedSpans", "SpanQA", "ViewSpans", "answer_distribution"]

# logit of positions that do not exist in a view (fits fp16/bf16; softmax gives them ~0 mass)
PAD_LOGIT = -1.0e4


@dataclass
class ViewSpans:
    """Span scores of one (question, context) pair, with the context's token -> char offsets."""

    start_logits: Tensor  # [L] float, CPU
    end_logits: Tensor  # [L]
    offsets: list[tuple[int, int]]  # [L] char offsets into the context (context tokens only)
    context_mask: Tensor  # [L] bool: token belongs to the context

    def span_matrix(self, max_answer_len: int) -> Tensor:
        """[L, L] start+end logits, -inf outside valid spans (context, end >= start, length cap)."""
        scores = self.start_logits[:, None] + self.end_logits[None, :]
        length = torch.arange(scores.shape[0])
        band = (length[None, :] >= length[:, None]) & (length[None, :] - length[:, None] < max_answer_len)
        valid = band & self.context_mask[:, None] & self.context_mask[None, :]
        return scores.masked_fill(~valid, float("-inf"))

    def top_spans(self, top_k: int, max_answer_len: int) -> list[tuple[int, int, float]]:
        """The `top_k` best valid spans as (char_start, char_end, score), best first."""
        matrix = self.span_matrix(max_answer_len)
        flat = matrix.flatten()
        k = min(top_k, int(torch.isfinite(flat).sum()))
        if k == 0:
            return []
        values, index = flat.topk(k)
        width = matrix.shape[1]
        out = []
        for value, idx in zip(values.tolist(), index.tolist(), strict=True):
            i, j = divmod(idx, width)
            out.append((self.offsets[i][0], self.offsets[j][1], value))
        return out

    def score_char_spans(self, spans: Sequence[tuple[int, int]], max_answer_len: int) -> Tensor:
        """start+end logit of each char span in this view; -inf where it does not exist here
        (e.g. truncated away) or breaks the length cap."""
        start_tok: dict[int, int] = {}
        end_tok: dict[int, int] = {}
        for t, (cs, ce) in enumerate(self.offsets):
            if self.context_mask[t]:
                start_tok.setdefault(cs, t)
                end_tok[ce] = t
        out = torch.full((len(spans),), float("-inf"))
        for n, (cs, ce) in enumerate(spans):
            i, j = start_tok.get(cs), end_tok.get(ce)
            if i is not None and j is not None and 0 <= j - i < max_answer_len:
                out[n] = self.start_logits[i] + self.end_logits[j]
        return out


@dataclass
class AlignedSpans:
    """Start/end logits [R, 1 + C] on [CLS] + the context tokens: position j is the same context
    token for every question asked on one context, so clean and perturbed views line up for the
    objectives (a view whose longer question truncates the context gets PAD_LOGIT there, as do
    pads). Gold positions use the same indexing (0 = CLS: the answer was truncated away)."""

    start: Tensor
    end: Tensor
    token_index: Tensor  # [R, 1 + C] token index of each aligned position (CPU)
    valid: Tensor  # [R, 1 + C] bool (CPU)
    offsets: Tensor  # [R, L, 2] char offsets of the tokens
    start_positions: Tensor | None = None
    end_positions: Tensor | None = None

    def best_spans(self, contexts: Sequence[str], max_answer_len: int) -> list[str]:
        """The highest start+end span of context tokens per row (empty if none survived)."""
        start, end = self.start.detach().float().cpu(), self.end.detach().float().cpu()
        texts = []
        for r, context in enumerate(contexts):
            n = int(self.valid[r].sum()) - 1
            if n < 1:
                texts.append("")
                continue
            scores = start[r, 1 : 1 + n, None] + end[r, None, 1 : 1 + n]
            pos = torch.arange(n)
            band = (pos[None, :] >= pos[:, None]) & (pos[None, :] - pos[:, None] < max_answer_len)
            i, j = divmod(int(scores.masked_fill(~band, float("-inf")).argmax()), n)
            first, last = int(self.token_index[r, 1 + i]), int(self.token_index[r, 1 + j])
            texts.append(context[int(self.offsets[r, first, 0]) : int(self.offsets[r, last, 1])])
        return texts


def answer_distribution(
    views: Sequence[ViewSpans],
    context: str,
    top_k: int,
    max_answer_len: int,
    extra_spans: Sequence[tuple[int, int]] = (),
) -> tuple[list[str], Tensor]:
    """The shared-answer-set distribution of `SpanQA.span_distribution` from its views' logits."""
    spans: dict[tuple[int, int], float] = {}
    for view in views:
        for cs, ce, score in view.top_spans(top_k, max_answer_len):
            spans[(cs, ce)] = max(score, spans.get((cs, ce), float("-inf")))
    for cs, ce in extra_spans:
        spans.setdefault((cs, ce), float("-inf"))
    if not spans:
        raise ValueError("no candidate span in any view (is the context empty or truncated away?)")
    span_list = list(spans)
    groups: dict[str, list[int]] = {}
    for n, (cs, ce) in enumerate(span_list):
        groups.setdefault(normalize_answer(context[cs:ce]), []).append(n)
    scores = torch.stack([v.score_char_spans(span_list, max_answer_len) for v in views])  # [V, S]
    grouped = torch.stack([scores[:, idx].logsumexp(-1) for idx in groups.values()], dim=-1)  # [V, A]
    empty = ~torch.isfinite(grouped).any(-1)
    if empty.any():
        raise ValueError(
            f"views {empty.nonzero().flatten().tolist()} have no context tokens left after truncation"
        )
    answers = []
    for idx in groups.values():
        best = max(idx, key=lambda n: spans[span_list[n]])
        cs, ce = span_list[best]
        answers.append(context[cs:ce])
    return answers, grouped.softmax(-1)


class SpanQA(nn.Module):
    """A span-extraction head (any AutoModelForQuestionAnswering) with its tokenizer.

    `pretrained` loads weights (alias such as "all-MiniLM-L6-v2", folder or Hub id); otherwise
    `config` builds a randomly initialised model (e.g. a tiny BERT for tests) that uses
    `tokenizer`'s vocabulary. Only the context is truncated (to `max_length` tokens in total;
    longer contexts lose their tail: there is no document stride).
    """

    def __init__(
        self,
        pretrained: str | None = None,
        config: Mapping[str, Any] | None = None,
        tokenizer: str | None = None,
        max_length: int = 384,
        batch_size: int = 32,
        top_k: int = 10,
        max_answer_len: int = 30,
        sample_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        from transformers import AutoModelForQuestionAnswering

        self.tokenizer, self.model = build_encoder(
            AutoModelForQuestionAnswering, pretrained, config, tokenizer, 2
        )
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("SpanQA needs a fast tokenizer (offset mappings)")
        self.max_length = max_length
        self.batch_size = batch_size
        # how answers are read in evaluation: top_k spans per view, a length cap in tokens, and the
        # temperature of the answers drawn from p(.|x) for self-consistency
        self.top_k = top_k
        self.max_answer_len = max_answer_len
        self.sample_temperature = sample_temperature
        # from_pretrained leaves the model in eval mode: start in train mode like any new module.
        self.train()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ encoding
    def tokenize(self, questions: Sequence[str], contexts: Sequence[str]):
        """BatchEncoding with offset mappings; only the context (second sequence) is truncated."""
        if len(questions) != len(contexts):
            raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
        return self.tokenizer(
            list(questions),
            list(contexts),
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )

    def forward(self, **encodings: Tensor) -> tuple[Tensor, Tensor]:
        """(start_logits, end_logits), each [B, L], from tokenized inputs."""
        out = self.model(**encodings)
        return out.start_logits, out.end_logits

    def _model_inputs(self, enc) -> dict[str, Tensor]:
        return {k: v.to(self.device) for k, v in enc.items() if k != "offset_mapping"}

    @staticmethod
    def _context_mask(enc, row: int, length: int) -> Tensor:
        seq = enc.sequence_ids(row)
        return torch.tensor([s == 1 for s in seq[:length]], dtype=torch.bool)

    def view_spans(self, enc, start: Tensor, end: Tensor) -> list[ViewSpans]:
        """One ViewSpans per row of a forward's (start, end) logits [R, L] and its encoding."""
        start, end = start.detach().float().cpu(), end.detach().float().cpu()
        return [
            ViewSpans(
                start_logits=start[r],
                end_logits=end[r],
                offsets=[tuple(o) for o in enc["offset_mapping"][r].tolist()],
                context_mask=self._context_mask(enc, r, start.shape[1]),
            )
            for r in range(start.shape[0])
        ]

    def _views(self, questions: Sequence[str], contexts: Sequence[str]) -> list[ViewSpans]:
        """Span logits of each (question, context) pair, batched, dropout as currently set.
        Pairs are length-sorted into batches (less padding) and returned in input order."""
        order = sorted(range(len(questions)), key=lambda i: len(questions[i]) + len(contexts[i]))
        views: list[ViewSpans | None] = [None] * len(questions)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            enc = self.tokenize([questions[i] for i in idx], [contexts[i] for i in idx])
            for i, view in zip(idx, self.view_spans(enc, *self(**self._model_inputs(enc))), strict=True):
                views[i] = view
        return views  # type: ignore[return-value]

    def _eval_views(self, questions: Sequence[str], contexts: Sequence[str]) -> list[ViewSpans]:
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return self._views(questions, contexts)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ prediction
    def candidate_spans(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        top_k: int = 10,
        max_answer_len: int = 30,
    ) -> list[list[tuple[str, float]]]:
        """Per input, the `top_k` best spans as (answer text, start+end logit), best first."""
        out = []
        for view, context in zip(self._eval_views(questions, contexts), contexts, strict=True):
            out.append([(context[cs:ce], score) for cs, ce, score in view.top_spans(top_k, max_answer_len)])
        return out

    def predict(
        self, questions: Sequence[str], contexts: Sequence[str], max_answer_len: int = 30
    ) -> list[str]:
        """The best span's text per input (empty string if the context was truncated away)."""
        cands = self.candidate_spans(questions, contexts, top_k=1, max_answer_len=max_answer_len)
        return [c[0][0] if c else "" for c in cands]

    def span_distribution(
        self,
        questions: Sequence[str],
        context: str,
        top_k: int = 10,
        max_answer_len: int = 30,
        extra_spans: Sequence[tuple[int, int]] = (),
    ) -> tuple[list[str], Tensor]:
        """p(.|x) over answers for V views of one input: `questions[0]` is the clean question,
        the rest its perturbed versions; the context is shared.

        Candidates are the union of every view's `top_k` char spans (plus `extra_spans`, e.g.
        the gold answers, so that they always have a probability); each is scored in every view
        (start+end logit, -inf where that span does not exist there), spans with the same
        SQuAD-normalized text are merged by logsumexp, and each view is softmaxed.
        Returns (answers [A] (per group, the surface text scored highest in any view),
        probs [V, A]); every row sums to 1 and all rows share the answer order.
        """
        if not questions:
            raise ValueError("span_distribution needs at least one question (the clean one)")
        views = self._eval_views(questions, [context] * len(questions))
        return answer_distribution(views, context, top_k, max_answer_len, extra_spans)

    def span_distributions(
        self,
        question_sets: Sequence[Sequence[str]],
        contexts: Sequence[str],
        top_k: int = 10,
        max_answer_len: int = 30,
        extra_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[tuple[list[str], Tensor]]:
        """`span_distribution` for many inputs (question_sets[n] = [clean, perturbed...] for
        contexts[n]), with all their views batched together through the model."""
        if len(question_sets) != len(contexts):
            raise ValueError(f"{len(question_sets)} question sets but {len(contexts)} contexts")
        flat_q = [q for qs in question_sets for q in qs]
        flat_c = [c for qs, c in zip(question_sets, contexts, strict=True) for _ in qs]
        views = self._eval_views(flat_q, flat_c)
        out, lo = [], 0
        for n, (qs, context) in enumerate(zip(question_sets, contexts, strict=True)):
            if not qs:
                raise ValueError(f"input {n}: no question (the clean one comes first)")
            extra = extra_spans[n] if extra_spans is not None else ()
            out.append(answer_distribution(views[lo : lo + len(qs)], context, top_k, max_answer_len, extra))
            lo += len(qs)
        return out

    # ------------------------------------------------------------------ training
    def token_positions(
        self, enc, contexts: Sequence[str], answers: Sequence[tuple[str, int]]
    ) -> tuple[Tensor, Tensor]:
        """Start/end token index of each (answer text, char start); 0 (CLS) where the answer is
        not fully inside the (possibly truncated) context."""
        starts, ends = [], []
        offsets = enc["offset_mapping"].tolist()
        for r, (text, char_start) in enumerate(answers):
            char_end = char_start + len(text)
            if contexts[r][char_start:char_end] != text:
                raise ValueError(f"answer {text!r} is not at char {char_start} of context {r}")
            seq = enc.sequence_ids(r)
            ctx = [t for t, s in enumerate(seq) if s == 1]
            s_tok = e_tok = 0
            if ctx and offsets[r][ctx[0]][0] <= char_start and offsets[r][ctx[-1]][1] >= char_end:
                s_tok = next(t for t in ctx if offsets[r][t][1] > char_start)
                e_tok = next(t for t in reversed(ctx) if offsets[r][t][0] < char_end)
            starts.append(s_tok)
            ends.append(e_tok)
        return torch.tensor(starts), torch.tensor(ends)

    def aligned_logits(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        answers: Sequence[tuple[str, int]] | None = None,
    ) -> AlignedSpans:
        """One forward (with gradients) over the pairs, re-indexed onto [CLS] + the context tokens
        (see `AlignedSpans`); with `answers`, also their gold positions in that indexing."""
        enc = self.tokenize(questions, contexts)
        start, end = self(**self._model_inputs(enc))
        ctx = [[t for t, sid in enumerate(enc.sequence_ids(r)) if sid == 1] for r in range(start.shape[0])]
        width = 1 + max((len(c) for c in ctx), default=0)
        index = torch.zeros(len(ctx), width, dtype=torch.long)
        valid = torch.zeros(len(ctx), width, dtype=torch.bool)
        for r, tokens in enumerate(ctx):
            index[r, 1 : 1 + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            valid[r, : 1 + len(tokens)] = True
        dev_index, dev_valid = index.to(start.device), valid.to(start.device)

        def align(logits: Tensor) -> Tensor:
            return logits.gather(1, dev_index).masked_fill(~dev_valid, PAD_LOGIT)

        out = AlignedSpans(align(start), align(end), index, valid, enc["offset_mapping"])
        if answers is not None:
            s_tok, e_tok = self.token_positions(enc, contexts, answers)
            position = [{t: j + 1 for j, t in enumerate(tokens)} for tokens in ctx]
            out.start_positions = torch.tensor(
                [position[r].get(int(t), 0) for r, t in enumerate(s_tok)], device=start.device
            )
            out.end_positions = torch.tensor(
                [position[r].get(int(t), 0) for r, t in enumerate(e_tok)], device=start.device
            )
        return out

    def training_loss(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        answers: Sequence[tuple[str, int]],
    ) -> Tensor:
        """Mean of the start and end cross-entropies (the standard SQuAD objective), with
        gradients; dropout follows the module's mode."""
        if len(answers) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
        enc = self.tokenize(questions, contexts)
        start_pos, end_pos = self.token_positions(enc, contexts, answers)
        start, end = self(**self._model_inputs(enc))
        loss_fn = nn.functional.cross_entropy
        return (loss_fn(start, start_pos.to(start.device)) + loss_fn(end, end_pos.to(end.device))) / 2
