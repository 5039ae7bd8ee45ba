"""Drawing the tokens of the rows that sample, all rows at once, from exactly the distribution
transformers' `generate(do_sample=True)` defines: softmax of the temperature-scaled scores
after its warpers in its order (top-k, top-p, min-p).

Every warper only removes tokens, so that distribution is the plain softmax restricted to the
kept set. Rows without top-k therefore draw by rejection: a token from the full softmax
(inverse transform sampling against the row's cumulative sum: one uniform number per row), kept
if the warpers would keep it. Whether top-p keeps token x needs only the mass of the tokens
less likely than x (a masked sum, usually settled by a quarter of the vocabulary), and min-p
only x's own weight, so no step sorts the
152k-token vocabulary; a kept draw is distributed exactly as the restricted softmax. The
nucleus holds at least top_p of the mass, so with the card's top_p 0.95 a draw is kept at
least 95 % of the time. Rows still unlucky after a few tries, and rows with top-k, take the
exact path: the kept set computed outright (top-k by `topk`; top-p from a histogram of the
mass over log-probability bins, sorting only the bin where the nucleus ends), then one draw.
Stopping the tries early changes nothing: each path yields the same distribution.

A seeded row takes its uniform numbers from its own generator, and how many it takes depends
only on its own draws, so a seeded request's tokens do not depend on its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..base import SamplingParams

if TYPE_CHECKING:
    from .grammar import RowGrammar

TRIES = 4  # rejection rounds before a row takes the exact path


@dataclass
class RowSampling:
    params: SamplingParams
    generator: torch.Generator | None
    grammar: RowGrammar | None = None  # structured output: the tokens it allows (grammar.py)


def sample(logits: torch.Tensor, best: torch.Tensor, rows: list[RowSampling]) -> list[int | None]:
    """One token per row of `logits` [m, vocab] (penalised, not yet temperature-scaled; `best` [m]
    their row maxima), or None for a row whose scores are no distribution. `logits` is overwritten."""
    device = logits.device
    params = [row.params for row in rows]
    inverse = torch.tensor([1.0 / p.temperature for p in params], device=device).view(-1, 1)
    offset = -best.view(-1, 1) * inverse
    # exp((score - best) / T), the best token at 1; in place (the caller hands its logits over)
    weights = torch.addcmul(offset, logits, inverse, out=logits).exp_()
    cdf = weights.cumsum(-1)
    total = cdf[:, -1]
    valid = (torch.isfinite(total) & (total > 0)).tolist()
    vocab = logits.shape[-1]
    tokens: list[int | None] = [None] * len(rows)
    exact = [i for i, p in enumerate(params) if valid[i] and 0 < p.top_k < vocab]
    pending = [i for i, p in enumerate(params) if valid[i] and not 0 < p.top_k < vocab]
    top_p = torch.tensor([p.top_p for p in params], device=device)
    min_p = torch.tensor([p.min_p for p in params], device=device)
    for _ in range(TRIES):
        if not pending:
            break
        index = torch.tensor(pending, device=device)
        whole = len(pending) == len(rows)
        row_weights = weights if whole else weights[index]
        row_cdf = cdf if whole else cdf[index]
        row_total = total[index].view(-1, 1)
        candidates = _search(row_cdf, row_total, _uniforms([rows[i] for i in pending], device))
        weight = row_weights.gather(1, candidates.view(-1, 1))
        keep = weight.view(-1) >= min_p[index]
        nucleus = top_p[index] < 1
        if bool(nucleus.any()):
            needed = (1 - top_p[index]).view(-1, 1) * row_total - weight  # the mass below x must pass this
            keep &= ~nucleus | _mass_below_passes(row_weights, weight, needed)
        for i, token, kept in zip(pending, candidates.tolist(), keep.tolist(), strict=False):
            if kept:
                tokens[i] = token
        pending = [i for i, kept in zip(pending, keep.tolist(), strict=False) if not kept]
    exact += pending
    if exact:
        index = torch.tensor(exact, device=device)
        relative = weights[index].log_()
        kept = sampling_weights(
            relative, torch.tensor([params[i].top_k for i in exact], device=device), top_p[index], min_p[index]
        )
        for i, token in zip(exact, draw(kept, [rows[i] for i in exact]), strict=False):
            tokens[i] = token
    return tokens


def _mass_below_passes(weights: torch.Tensor, weight: torch.Tensor, needed: torch.Tensor) -> torch.Tensor:
    """Per row: is the mass of the tokens lighter than `weight` more than `needed`? The mass
    over the first quarter of the vocabulary is a lower bound that settles most rows (a drawn
    token is rarely near the nucleus' edge); only the others sum the whole row."""
    part = weights[:, : max(1, weights.shape[-1] // 4)]
    passes = (torch.where(part < weight, part, 0.0).sum(-1, keepdim=True) > needed).view(-1)
    unsure = (~passes).nonzero().view(-1)
    if len(unsure):
        rest = weights[unsure]
        below = torch.where(rest < weight[unsure], rest, 0.0).sum(-1, keepdim=True)
        passes[unsure] = (below > needed[unsure]).view(-1)
    return passes


def _uniforms(rows: list[RowSampling], device: torch.device) -> torch.Tensor:
    """One uniform number per row: from the row's own generator when it is seeded."""
    uniform = torch.rand(len(rows), device=device)
    for i, row in enumerate(rows):
        if row.generator is not None:
            uniform[i] = torch.rand((), generator=row.generator, device=device)
    return uniform


def _search(cdf: torch.Tensor, total: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Inverse transform sampling: per row, the first token whose cumulative weight passes
    uniform * total (strictly below the total, so never past the last token with weight)."""
    targets = torch.minimum(uniform.view(-1, 1) * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, targets, right=True).view(-1)


TOP_P_BINS = 4096  # histogram bins over the TOP_P_RANGE nats below a row's best token
TOP_P_RANGE = 40.0  # tokens further below share the lowest bin (their mass is negligible)


def sampling_weights(
    scores: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor, min_p: torch.Tensor
) -> torch.Tensor:
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


def draw(weights: torch.Tensor, rows: list[RowSampling]) -> list[int]:
    """One token per row of `weights` [m, vocab] (unnormalised, >= 0)."""
    cdf = weights.cumsum(-1)
    return _search(cdf, cdf[:, -1:], _uniforms(rows, weights.device)).tolist()
