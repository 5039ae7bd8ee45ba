"""Choosing each row's next token from its logits, with its own sampling settings.

The order of adjustments is transformers' (repetition penalty, temperature,
top-k, top-p), so a greedy row picks exactly what `generate` would.

The running batch's choice is one step of batched tensor ops: the repetition
penalty gathers and scatters every row's token history at once (`History`
keeps it as a left-padded matrix, like the KV cache), greedy rows take one
argmax, and only rows that sample do a little work of their own (their seeded
generator must draw alone so that a seeded request does not depend on its
neighbours).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import SamplingParams


@dataclass
class RowSampling:
    params: SamplingParams
    generator: torch.Generator | None


class History:
    """Every running row's token ids (prompt + generated) as one [rows, width] matrix,
    left-padded with a copy of the row's own first token. Repeats are harmless to the
    repetition penalty (it gathers and scatters the same value), so the matrix needs no
    de-duplication and grows by one column per decode step."""

    def __init__(self) -> None:
        self.ids: torch.Tensor | None = None
        self.pads: list[int] = []
        self.penalty: torch.Tensor | None = None  # [rows, 1]

    def join(self, ids: torch.Tensor, penalty: float) -> None:
        """Add rows whose histories are `ids` [n, length]."""
        penalties = torch.full((ids.shape[0], 1), float(penalty), device=ids.device)
        if self.ids is None:
            self.ids, self.pads, self.penalty = ids, [0] * ids.shape[0], penalties
            return
        width = max(self.ids.shape[1], ids.shape[1])
        grow = width - self.ids.shape[1]
        self.ids = torch.cat([_pad_left(self.ids, grow), _pad_left(ids, width - ids.shape[1])], dim=0)
        self.pads = [p + grow for p in self.pads] + [width - ids.shape[1]] * ids.shape[0]
        self.penalty = torch.cat([self.penalty, penalties], dim=0)

    def append(self, tokens: torch.Tensor) -> None:
        self.ids = torch.cat([self.ids, tokens.view(-1, 1).to(self.ids.dtype)], dim=1)

    def keep(self, indices: list[int]) -> None:
        if not indices:
            self.ids, self.pads, self.penalty = None, [], None
            return
        index = torch.tensor(indices, device=self.ids.device)
        self.pads = [self.pads[i] for i in indices]
        trim = min(self.pads)
        self.ids = self.ids.index_select(0, index)[:, trim:]
        self.penalty = self.penalty.index_select(0, index)
        self.pads = [p - trim for p in self.pads]


def _pad_left(ids: torch.Tensor, amount: int) -> torch.Tensor:
    if amount <= 0:
        return ids
    return torch.cat([ids[:, :1].expand(-1, amount), ids], dim=1)


def apply_repetition_penalty(logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor) -> None:
    """In place on logits [rows, vocab]: transformers' RepetitionPenaltyLogitsProcessor, per row
    (history [rows, width], penalty [rows, 1]; a penalty of 1 leaves a row exactly as it was)."""
    scores = logits.gather(1, history)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    logits.scatter_(1, history, scores)


def filter_top_k_top_p(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(logits, descending=False)
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative <= (1 - top_p)
        drop[-1] = False  # always keep the most likely token
        logits = logits.masked_fill(drop.scatter(0, order, drop), float("-inf"))
    return logits


def draw(logits: torch.Tensor, row: RowSampling) -> int:
    """One sampling row's token from its (penalised) logits [vocab]."""
    params = row.params
    scores = filter_top_k_top_p(logits / params.temperature, params.top_k, params.top_p)
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=row.generator))


@torch.inference_mode()
def choose_tokens(logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor,
                  rows: list[RowSampling]) -> list[int]:
    """Every row's next token. `logits` [rows, vocab] float32 is adjusted in place."""
    if any(row.params.repetition_penalty != 1.0 for row in rows):
        apply_repetition_penalty(logits, history, penalty)
    tokens = torch.argmax(logits, dim=-1).tolist()
    for i, row in enumerate(rows):
        if not row.params.greedy:
            tokens[i] = draw(logits[i], row)
    return tokens


def token_logprobs(logits: torch.Tensor, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """The model's own log-probability of `token` (raw logits, before any adjustment)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    best = torch.topk(logprobs, top) if top > 0 else None
    alternatives = list(zip(best.indices.tolist(), best.values.tolist())) if best is not None else []
    return float(logprobs[token]), alternatives
