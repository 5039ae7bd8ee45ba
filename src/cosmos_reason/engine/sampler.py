"""Choosing each row's next token from its logits, with its own sampling settings.

The order of adjustments is transformers' (repetition penalty, temperature,
top-k, top-p), so a greedy row picks exactly what `generate` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import SamplingParams


@dataclass
class RowSampling:
    params: SamplingParams
    seen: torch.Tensor  # token ids the repetition penalty applies to (prompt + generated)
    generator: torch.Generator | None


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    scores = logits.gather(0, seen)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.scatter(0, seen, scores)


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


def choose(logits: torch.Tensor, row: RowSampling) -> int:
    """One row's next token: argmax when greedy, else a draw from the adjusted distribution."""
    params = row.params
    scores = apply_repetition_penalty(logits, row.seen, params.repetition_penalty)
    if params.greedy:
        return int(torch.argmax(scores))
    scores = filter_top_k_top_p(scores / params.temperature, params.top_k, params.top_p)
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=row.generator))


def token_logprobs(logits: torch.Tensor, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """The model's own log-probability of `token` (raw logits, before any adjustment)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    best = torch.topk(logprobs, top) if top > 0 else None
    alternatives = list(zip(best.indices.tolist(), best.values.tolist())) if best is not None else []
    return float(logprobs[token]), alternatives
