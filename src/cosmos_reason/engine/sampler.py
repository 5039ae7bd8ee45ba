"""Choosing each row's next token from its logits, with its own sampling settings.

The order of adjustments is transformers' (repetition penalty, temperature,
top-k, top-p, min-p), so a row picks exactly what `generate` would; OpenAI's
`logit_bias` comes first and its presence/frequency penalties (over the
generated tokens only) right after the repetition penalty, as in vLLM.

The running batch's choice is one step of batched tensor ops over [rows, vocab]:
the repetition penalty gathers and scatters every row's token history at once
(`History` keeps it as a left-padded matrix, like the KV cache), greedy rows
take one argmax, and the rows that sample go through temperature, top-k,
top-p and min-p together. Top-p never sorts the 152k-token vocabulary: a
histogram of each row's probability mass over log-probability bins locates
the bin where the nucleus ends, and only that bin's tokens are sorted (exact:
the bins are ordered by probability). Tokens are drawn by inverse transform
sampling, one uniform number per row; a seeded row takes its number from its
own generator, so its tokens do not depend on its neighbours.

One row's failure is that row's alone: a row whose scores are not a
distribution gets an exception in place of its token, and the scheduler ends
that request with an error while the rest of the batch goes on.
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


def apply_logit_bias(logits: torch.Tensor, rows: list[RowSampling]) -> None:
    """In place: each row's OpenAI `logit_bias` (token id -> value added to its logit)."""
    for i, row in enumerate(rows):
        if row.params.logit_bias:
            ids, values = zip(*row.params.logit_bias)
            index = torch.tensor(ids, device=logits.device)
            logits[i].index_add_(0, index, torch.tensor(values, dtype=logits.dtype, device=logits.device))


def apply_presence_frequency(logits: torch.Tensor, history: torch.Tensor, generated: list[int],
                             rows: list[RowSampling]) -> None:
    """In place: OpenAI's presence and frequency penalties over each row's generated tokens
    (the last `generated[i]` columns of its history; the prompt does not count, as in vLLM).
    One scatter for the whole batch: counts[i, t] = occurrences of t among row i's output."""
    width = history.shape[1]
    columns = torch.arange(width, device=history.device).view(1, -1)
    start = torch.tensor([width - g for g in generated], device=history.device).view(-1, 1)
    counts = torch.zeros_like(logits).scatter_add_(1, history, (columns >= start).to(logits.dtype))
    presence = torch.tensor([row.params.presence_penalty for row in rows], device=logits.device).view(-1, 1)
    frequency = torch.tensor([row.params.frequency_penalty for row in rows], device=logits.device).view(-1, 1)
    logits -= frequency * counts + presence * (counts > 0).to(logits.dtype)


TOP_P_BINS = 4096  # histogram bins over the TOP_P_RANGE nats below a row's best token
TOP_P_RANGE = 40.0  # tokens further below share the lowest bin (their mass is negligible)


def sampling_weights(scores: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                     min_p: torch.Tensor) -> torch.Tensor:
    """What each row samples from, unnormalised: exp(score - best) of temperature-scaled `scores`
    [m, vocab], zero where transformers' warpers (top-k, top-p, min-p, in its order) drop a
    token; every row at once. `top_k` [m] (0 = off), `top_p` [m] (1 = off), `min_p` [m] (0 = off).
    Normalised, each row is the softmax transformers samples from. `scores` is overwritten."""
    vocab = scores.shape[-1]
    relative = scores.sub_(scores.amax(-1, keepdim=True))  # in place; <= 0, the best token at 0
    weights = relative.exp()
    limited = (top_k > 0) & (top_k < vocab)
    if bool(limited.any()):
        largest = torch.topk(relative, int(top_k[limited].max()), dim=-1).values
        kth = largest.gather(1, (top_k.clamp(1, largest.shape[1]) - 1).view(-1, 1))
        weights.masked_fill_(limited.view(-1, 1) & (relative < kth), 0.0)
    if bool((top_p < 1).any()):
        weights.masked_fill_(~_top_p_keep(relative, weights, top_p), 0.0)
    if bool((min_p > 0).any()):
        # min-p compares with the best token (weight 1), which every filter keeps: renormalising
        # first, as transformers does, changes no ratio.
        weights.masked_fill_(weights < min_p.view(-1, 1), 0.0)
    return weights


def _top_p_keep(relative: torch.Tensor, weights: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """transformers' top-p without sorting the vocabulary: it drops the least likely tokens while
    their cumulative mass (ascending, including the token) stays <= 1 - top_p. A histogram of
    the mass over log-probability bins finds, per row, the one bin where that cut falls; only
    the tokens in that bin are sorted. Bins are monotone in probability, so every token in a
    lower bin is dropped and every token in a higher bin kept, exactly as a full sort would."""
    rows = weights.shape[0]
    bins = torch.add(torch.tensor(float(TOP_P_BINS)), relative, alpha=TOP_P_BINS / TOP_P_RANGE)
    bins = bins.clamp_(0, TOP_P_BINS - 1).long()  # truncation: monotone in the relative score
    mass = torch.zeros(rows, TOP_P_BINS, dtype=weights.dtype, device=weights.device).scatter_add_(1, bins, weights)
    below = mass.cumsum(-1)
    drop_mass = (1 - top_p).view(-1, 1).to(weights.dtype) * below[:, -1:]  # of the unnormalised total
    cut = (below <= drop_mass).sum(-1)  # the first bin whose cumulative mass exceeds it
    keep = bins > cut.view(-1, 1)
    for r in range(rows):
        if float(top_p[r]) >= 1:
            keep[r] = True
            continue
        c = int(cut[r])
        members = (bins[r] == c).nonzero().view(-1)
        ordered, order = weights[r, members].sort()
        before = below[r, c - 1] if c > 0 else weights.new_zeros(())
        keep[r, members[order]] = before + ordered.cumsum(-1) > drop_mass[r]
    return keep


class SamplingFailed(ValueError):
    """One row's adjusted scores are not a distribution (NaN or no finite logit)."""


def draw(weights: torch.Tensor, rows: list[RowSampling]) -> list[int]:
    """One token per row of `weights` [m, vocab] (unnormalised, >= 0) by inverse transform
    sampling: a uniform number per row (from the row's own generator when seeded, so that a
    seeded request draws the same whatever its neighbours) against the row's cumulative sum."""
    uniform = torch.rand(len(rows), device=weights.device)
    for i, row in enumerate(rows):
        if row.generator is not None:
            uniform[i] = torch.rand((), generator=row.generator, device=weights.device)
    cdf = weights.cumsum(-1)
    total = cdf[:, -1:]
    # strictly below the total, so the search never passes the last token with weight
    targets = torch.minimum(uniform.view(-1, 1) * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, targets, right=True).view(-1).tolist()


@torch.inference_mode()
def choose_tokens(logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor,
                  rows: list[RowSampling], generated: list[int]) -> list[int | Exception]:
    """Every row's next token. `logits` [rows, vocab] float32 is adjusted in place (vLLM's order:
    logit bias, then the repetition penalty, then presence/frequency; then temperature, top-k,
    top-p and min-p for rows that sample, all rows in one batched pass). A row whose scores
    break (NaN, nothing finite) gets its exception in place of a token; the others go on."""
    if any(row.params.logit_bias for row in rows):
        apply_logit_bias(logits, rows)
    if any(row.params.repetition_penalty != 1.0 for row in rows):
        apply_repetition_penalty(logits, history, penalty)
    if any(row.params.presence_penalty or row.params.frequency_penalty for row in rows) and any(generated):
        apply_presence_frequency(logits, history, generated, rows)
    best, argmax = logits.max(dim=-1)  # NaN anywhere in a row makes its max NaN
    tokens: list[int | Exception] = list(argmax.tolist())
    broken = (torch.isnan(best) | (best == float("-inf"))).tolist()
    sampled = []
    for i, row in enumerate(rows):
        if broken[i]:
            tokens[i] = SamplingFailed("the adjusted logits are not finite (check the penalties and logit_bias)")
        elif not row.params.greedy:
            sampled.append(i)
    if sampled:
        params = [rows[i].params for i in sampled]
        device = logits.device
        temperature = torch.tensor([p.temperature for p in params], device=device).view(-1, 1)
        scores = logits.div_(temperature) if len(sampled) == len(rows) else logits[sampled].div_(temperature)
        weights = sampling_weights(scores, torch.tensor([p.top_k for p in params], device=device),
                                   torch.tensor([p.top_p for p in params], device=device),
                                   torch.tensor([p.min_p for p in params], device=device))
        total = weights.sum(-1)
        valid = (torch.isfinite(total) & (total > 0)).tolist()
        drawn = draw(torch.nan_to_num(weights, nan=0.0) if not all(valid) else weights, [rows[i] for i in sampled])
        for j, i in enumerate(sampled):
            tokens[i] = drawn[j] if valid[j] else SamplingFailed(
                f"temperature {params[j].temperature:g} and the penalties left no valid distribution")
    return tokens


def token_logprobs(logits: torch.Tensor, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """The model's own log-probability of `token` (raw logits, before any adjustment)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    best = torch.topk(logprobs, top) if top > 0 else None
    alternatives = list(zip(best.indices.tolist(), best.values.tolist())) if best is not None else []
    return float(logprobs[token]), alternatives
