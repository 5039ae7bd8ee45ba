"""Drawing the tokens of the rows that sample, all rows at once, from exactly the distribution
transformers' `generate(do_sample=True)` defines: softmax of the temperature-scaled scores
after its warpers in its order (top-k, top-p, min-p).

Every warper only removes tokens, so that distribution is the plain softmax restricted to the
kept set. Rows without top-k therefore draw by rejection: a token from the full softmax, kept
if the warpers would keep it; a kept draw is distributed exactly as the restricted softmax, and
no step sorts the 152k-token vocabulary.

What a step costs is a few passes over [rows, vocab] float32, so the method is built to make
as few as it can, none of them writing a new tensor of that size (on the CPU a fresh 10 MB
temporary costs more than the arithmetic):
- the weights exp((score - best) / T), in place: one fused scale-and-shift (one op when the
  rows share a temperature) and one exp;
- the mass of each block of about a thousand tokens (144 blocks of 1056 for Qwen's 152064), a
  read-only reduction. A row's uniform number picks the block from the running sum of those block
  masses, then the token from the cumulative sum of that one block (two-level inverse transform
  sampling; a full cumulative sum would read and write the whole tensor). A rejected row draws
  again from the same block sums, at almost no cost;
- top-p keeps token x when the mass of the tokens lighter than x, plus x's own, exceeds
  (1 - top_p) of the total. For a likely x (a peaked, trained model) that holds outright. For a
  nearly flat softmax (the random-weight demo models, whose nucleus is about 90 % of the vocabulary)
  it takes one thresholded sum per row (the mass at least as heavy as x, subtracted from the
  block masses), a fifth of the vocabulary at a time: the first fifth's lower bound settles
  about three rows in four, the second most of the rest, and only a row whose token is dropped
  (or very near the nucleus' edge) sums everything. min-p only needs x's own weight. (Finding
  the nucleus outright, by a histogram or a partial sort, costs more passes than this test
  does for the one token drawn.)
- everything smaller than [rows, vocab] (the running sums of the block masses, the drawn
  blocks' cumulative sums, the top-p bookkeeping) on the host, in float64 NumPy: a few calls of
  a microsecond where each small tensor op costs several.
The nucleus holds at least top_p of the mass, so with the card's top_p 0.95 a draw is kept at
least 95 % of the time. Rows with a top-k of at most TOP_K_CANDIDATES (Reason2's card has
top_k 20) draw among their k candidates alone (on the scores themselves when every row of the
batch has one, so that none of the passes above is made), then top-p, min-p and the draw on the
candidates. The candidates come from the blocks with the highest maxima (top_values): the
caller's pass for the row maxima gives each block's maximum at the same cost, and `topk` then
reads k + 1 blocks per row instead of the vocabulary. Rows still unlucky after a few tries, rows
with a larger top-k, and a row whose k-th score ties with the next (transformers keeps every tied token) take the exact
path: the kept set computed outright (top-k by `topk`; top-p from a histogram of the mass
over log-probability bins, sorting only the bin where the nucleus ends), then one draw.
Stopping the tries early changes nothing: each path yields the same distribution. Block sums
and thresholded sums are float32 (their running sums float64), rounded like the cumulative sums
of any other sampler; tied weights at the nucleus' edge are kept or dropped together
(transformers' order among ties is its sort's).

A seeded row takes its uniform numbers from its own generator, and how many it takes depends
only on its own draws, so a seeded request's tokens do not depend on its neighbours.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
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


def sample(
    logits: torch.Tensor,
    best: torch.Tensor,
    rows: list[RowSampling],
    *,
    maxima: torch.Tensor | None = None,
    candidates_first: bool = True,
) -> list[int | None]:
    """One token per row of `logits` [m, vocab] (penalised, not yet temperature-scaled; `best` [m]
    their row maxima, `maxima` their block_maxima when the caller has them), or None for a row
    whose scores are no distribution. `logits` is overwritten."""
    device = logits.device
    params = [row.params for row in rows]
    logits = logits.contiguous()  # (it is: the runner's last-position logits, or a row copy)
    vocab = logits.shape[-1]
    if candidates_first and all(0 < p.top_k <= min(TOP_K_CANDIDATES, vocab - 1) for p in params):
        # every row keeps only its top k (Reason2's card): `topk` on the scores themselves, and
        # the exponentials of the candidates alone; a row tied at its k-th score (and only it)
        # takes the exact path
        inverse_all = torch.tensor([1.0 / p.temperature for p in params], device=device).view(-1, 1)
        valid_rows = torch.isfinite(best).tolist()
        picked = _draw_top_k(
            logits,
            list(range(len(rows))),
            rows,
            lambda v: ((v - best.view(-1, 1)) * inverse_all).exp(),
            maxima,
        )
        left = [i for i, token in enumerate(picked) if token is None and valid_rows[i]]
        if left:
            rest = sample(logits[left], best[left], [rows[i] for i in left], candidates_first=False)
            for i, token in zip(left, rest, strict=True):
                picked[i] = token
        return [token if valid_rows[i] else None for i, token in enumerate(picked)]
    # exp((score - best) / T), the best token at 1, in place (the caller hands its logits over):
    # two passes over [m, vocab], the scaling one fused op when the rows share a temperature
    temperatures = {p.temperature for p in params}
    if len(temperatures) == 1:
        inverse = 1.0 / temperatures.pop()
        torch.add(best.view(-1, 1) * -inverse, logits, alpha=inverse, out=logits)
    else:
        inverse_rows = torch.tensor([1.0 / p.temperature for p in params], device=device).view(-1, 1)
        logits.sub_(best.view(-1, 1)).mul_(inverse_rows)
    weights = logits.exp_()
    vocab = weights.shape[-1]
    size = block_size(vocab)
    # the rest is bookkeeping on [m, blocks] and a few [m, size] blocks: on the host, in float64
    # (a few NumPy calls cost less than the dozens of small tensor ops they replace, on any device)
    sums = block_sums(weights, size).double().cpu().numpy()
    cdf = np.zeros((len(rows), sums.shape[1] + 1))  # the mass before each block, then the total
    np.cumsum(sums, axis=1, out=cdf[:, 1:])
    total = cdf[:, -1]
    valid = (np.isfinite(total) & (total > 0)).tolist()
    tokens: list[int | None] = [None] * len(rows)
    exact = [i for i, p in enumerate(params) if valid[i] and 0 < p.top_k < vocab]
    pending = [i for i, p in enumerate(params) if valid[i] and not 0 < p.top_k < vocab]
    top_p = np.array([p.top_p for p in params])
    min_p = np.array([p.min_p for p in params]) if any(p.min_p for p in params) else None
    # top-p keeps x when the mass lighter than x, plus x's own, exceeds (1 - top_p) of the total
    drop = (1 - top_p) * total
    for _ in range(TRIES):
        if not pending:
            break
        index = np.array(pending)
        uniform = _uniforms([rows[i] for i in pending], device).double().cpu().numpy()
        drawn, weight = _draw_in_blocks(weights, index, cdf[index], size, uniform)
        needed = drop[index] - weight
        settled = needed < 0  # x alone holds enough of the mass: top-p keeps it
        if min_p is not None:  # min-p compares x's weight with the best token's (1)
            allowed = weight >= min_p[index]
            keep, unsure = settled & allowed, ~settled & allowed
        else:
            keep, unsure = settled, ~settled
        ask = np.flatnonzero(unsure)
        if ask.size:
            keep[ask] = _mass_below_passes(weights, cdf, size, index[ask].tolist(), weight[ask], needed[ask])
        for i, token, kept in zip(pending, drawn.tolist(), keep.tolist(), strict=True):
            if kept:
                tokens[i] = token
        pending = [i for i in pending if tokens[i] is None]
    small = [i for i in exact if params[i].top_k <= TOP_K_CANDIDATES]
    if small:  # top-k rows (Reason2's card has top_k 20): everything on the k candidates
        for i, token in zip(small, _draw_top_k(weights, small, rows), strict=True):
            tokens[i] = token
        exact = [i for i in exact if tokens[i] is None]
    exact += pending
    if exact:
        relative = weights[torch.tensor(exact, device=device)].log_()
        kept = sampling_weights(
            relative,
            torch.tensor([params[i].top_k for i in exact], device=device),
            torch.tensor([params[i].top_p for i in exact], device=device),
            torch.tensor([params[i].min_p for i in exact], device=device),
        )
        for i, token in zip(exact, draw(kept, [rows[i] for i in exact]), strict=True):
            tokens[i] = token
    return tokens


@functools.lru_cache
def block_size(vocab: int) -> int:
    """Tokens per block of the two-level inverse transform: about a thousand (a cumulative sum of
    one block is cheap, and so is one over the block masses), a divisor of `vocab` when one is near
    (Qwen's 152064 = 144 x 1056), so that every block is whole; else 1024 and a shorter last block."""
    if vocab <= 2048:
        return vocab
    near = [d for d in range(512, 2049) if vocab % d == 0]
    return min(near, key=lambda d: abs(math.log(d / 1024))) if near else 1024


def block_sums(weights: torch.Tensor, size: int) -> torch.Tensor:
    """[m, ceil(vocab / size)]: each row's mass per block of `size` consecutive tokens (the last
    block holds the remainder). One read of `weights`, nothing of its size written."""
    rows, vocab = weights.shape
    whole = vocab // size * size
    if whole == vocab:
        return weights.reshape(rows, -1, size).sum(-1)
    parts = [weights[:, :whole].reshape(rows, -1, size).sum(-1)] if whole else []
    parts.append(weights[:, whole:].sum(-1, keepdim=True))
    return torch.cat(parts, dim=1)


def _draw_in_blocks(
    weights: torch.Tensor, index: np.ndarray, cdf: np.ndarray, size: int, uniform: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse transform sampling in two levels for rows `index` [k] of `weights` (contiguous):
    their tokens [k] and those tokens' weights [k]. Per row, the block where uniform * total
    falls (`cdf` [k, 1 + blocks]: the mass before each block, then the total), then the token
    inside that block from the cumulative sum of that block alone (read from `weights`, the
    only data it moves). The target stays strictly below the total, so no token without weight
    is ever chosen."""
    total = cdf[:, -1]
    target = np.minimum(uniform * total, np.nextafter(total, 0))
    blocks = cdf.shape[1] - 1
    block = np.minimum(np.maximum((cdf <= target[:, None]).sum(1) - 1, 0), blocks - 1)  # cdf[:, 0] is 0
    rows, vocab = weights.shape
    if vocab % size == 0:  # whole blocks: one gather of k rows of `size`
        which = (torch.from_numpy(index).to(weights.device), torch.from_numpy(block).to(weights.device))
        inner = weights.view(rows, blocks, size)[which].double().cpu().numpy()
    else:  # the short last block's missing tokens weigh nothing
        columns = block[:, None] * size + np.arange(size)
        beyond = columns >= vocab
        flat = torch.from_numpy(np.minimum(columns, vocab - 1) + index[:, None] * vocab).to(weights.device)
        inner = weights.view(-1)[flat].double().cpu().numpy()
        inner[beyond] = 0.0
    cumulative = np.cumsum(inner, axis=1)
    rest = cumulative[:, -1]
    # what is left of the target inside the block, below the block's own (separately rounded) sum
    left = np.minimum(target - cdf[np.arange(len(index)), block], np.nextafter(rest, 0))
    position = np.minimum((cumulative <= left[:, None]).sum(1), size - 1)
    return block * size + position, inner[np.arange(len(index)), position]


# The top-p test sums a row in parts of at most PART tokens (a fifth of Qwen's vocabulary, about
# the cheapest first part: a smaller one settles fewer rows). Kept under torch's parallel grain
# (32768 elements), each part's sum runs on the calling thread: on a busy machine every op that
# hands work to another thread waits for that thread to be scheduled, and this test is a few
# small ops per row.
PART = 32767


def _mass_below_passes(
    weights: torch.Tensor, cdf: np.ndarray, size: int, rows: list[int], limits: np.ndarray, needed: np.ndarray
) -> np.ndarray:
    """[len(rows)]: for each of `rows`, is the mass of its tokens lighter than its `limits`
    weight more than `needed`? Per part of the row (whole blocks, PART tokens at most), the mass
    at least as heavy is one thresholded sum (a single vectorised op), subtracted from the part's
    mass (`cdf`, as in _draw_in_blocks); the parts summed so far give a lower bound, and a row
    stops as soon as that settles it (most rows after one part: a drawn token is rarely near the
    nucleus' edge)."""
    blocks = cdf.shape[1] - 1
    step = max(1, PART // size)  # blocks per part
    edges = [*range(0, blocks, step), blocks]
    masses = cdf[rows][:, edges].tolist()  # the mass before each part's first block, then the total
    vocab = weights.shape[1]
    passes = []
    # threshold keeps the values above `floor`: those >= limit (the next float below it, in the
    # weights' own precision, so that the kernel's cast of the threshold keeps it)
    floors = np.nextafter(limits.astype(np.float32), np.float32(0)).tolist()
    for r, floor, need, mass in zip(rows, floors, needed.tolist(), masses, strict=True):
        below = 0.0
        for part in range(len(edges) - 1):
            heavy = torch.threshold(weights[r, edges[part] * size : min(edges[part + 1] * size, vocab)], floor, 0.0)
            below += mass[part + 1] - mass[part] - float(heavy.sum())
            if below > need:
                break
        passes.append(below > need)
    return np.array(passes)


TOP_K_CANDIDATES = 1024  # rows with a top-k up to this draw among their k candidates alone


def _draw_top_k(
    weights: torch.Tensor, chosen: list[int], rows: list[RowSampling], to_weights=None, maxima=None
) -> list[int | None]:
    """The token of each of rows `chosen` of `weights` whose top_k is at most TOP_K_CANDIDATES,
    or None for a row whose k-th weight ties with the next (transformers' top-k keeps every
    token tied with the k-th: the exact path takes that row). Top-k keeps the k heaviest tokens,
    so top-p, min-p and the draw itself need only those k (one `topk` of k + 1 per row): top-p
    keeps a candidate when the candidates lighter than it, plus itself, hold more than
    1 - top_p of the candidates' mass (the test of `sample`, on the renormalised top-k
    distribution as transformers applies its warpers in turn); min-p compares with the best.
    `to_weights`, when given, turns the top values of `weights` (then the scores) into weights;
    `maxima`, the block maxima of all of `weights`' rows, spares top_values their pass."""
    device = weights.device
    params = [rows[i].params for i in chosen]
    ks = torch.tensor([p.top_k for p in params], device=device).view(-1, 1)
    whole = len(chosen) == weights.shape[0]
    source = weights if whole else weights[torch.tensor(chosen, device=device)]
    values, positions = top_values(source, int(ks.max()) + 1, maxima if whole else None)  # descending
    if to_weights is not None:  # `weights` were the scores: exp((score - best) / T) of these alone
        values = to_weights(values)
    columns = torch.arange(values.shape[1] - 1, device=device).view(1, -1)
    tied = (values.gather(1, ks) == values.gather(1, ks - 1)).view(-1).tolist()
    candidates = values[:, :-1].masked_fill(columns >= ks, 0.0)
    total = candidates.sum(-1, keepdim=True)
    lighter = (candidates.unsqueeze(1) * (candidates.unsqueeze(1) < candidates.unsqueeze(2))).sum(-1)
    top_p = torch.tensor([p.top_p for p in params], device=device).view(-1, 1)
    min_p = torch.tensor([p.min_p for p in params], device=device).view(-1, 1)
    keep = (lighter + candidates > (1 - top_p) * total) & (candidates >= min_p * candidates[:, :1])
    kept = candidates.masked_fill_(~keep, 0.0)
    picks = draw(kept, [rows[i] for i in chosen])
    tokens = positions.gather(1, torch.tensor(picks, device=device).view(-1, 1)).view(-1).tolist()
    return [None if tie else token for token, tie in zip(tokens, tied, strict=True)]


def block_maxima(x: torch.Tensor) -> torch.Tensor | None:
    """[m, blocks]: the maximum of each block (block_size) of a contiguous [m, vocab], in one
    read, as fast as the row maxima (which are their maxima); None when the blocks are not whole."""
    rows, vocab = x.shape
    size = block_size(vocab)
    return None if vocab % size else x.view(rows, vocab // size, size).amax(-1)


def top_values(x: torch.Tensor, n: int, maxima: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`x.topk(n)` along the last dimension of a contiguous [m, vocab], found among the n blocks
    (of block_size) with the highest maxima: those hold n values at least as high as anything
    outside them, so the n highest of the whole row are among them (ties at the n-th value aside,
    which the caller detects from the values). One read of `x` for the block maxima (none when
    `maxima` are given), then `topk` on n blocks per row instead of the vocabulary: about 3x
    faster for Qwen's."""
    rows, vocab = x.shape
    size = block_size(vocab)
    blocks = vocab // size
    if vocab % size or 4 * n > blocks:
        return x.topk(n, dim=-1)
    maxima = block_maxima(x) if maxima is None else maxima
    assert maxima is not None  # the blocks are whole here
    chosen = maxima.topk(n, dim=-1).indices  # [m, n]
    grouped = x.view(rows, blocks, size)
    inside = grouped[torch.arange(rows, device=x.device).view(-1, 1), chosen].view(rows, -1)
    values, where = inside.topk(n, dim=-1)
    return values, chosen.gather(1, where // size) * size + where % size


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
