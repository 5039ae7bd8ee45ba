"""Choosing each row's next token from its logits, with its own sampling settings.

The order of adjustments is transformers' (repetition penalty, temperature,
top-k, top-p, min-p), so a row picks exactly what `generate` would; OpenAI's
`logit_bias` comes first and its presence/frequency penalties (over the
generated tokens only) right after the repetition penalty, as in vLLM.

The running batch's choice is one step of batched tensor ops over [rows, vocab]:
the repetition penalty gathers and scatters every row's token history at once
(`History` keeps it as a left-padded matrix, like the KV cache), greedy rows
take one argmax, and the rows that sample draw together (draw.py: exact
transformers distributions without sorting the vocabulary).

A row with a structured-output grammar (grammar.py) has the tokens it does not allow masked
to -inf after the penalties, so greedy rows pick the unconstrained token whenever it is
allowed; the chosen token then advances its grammar.

One row's failure is that row's alone: a row whose scores are not a
distribution gets an exception in place of its token, and the scheduler ends
that request with an error while the rest of the batch goes on.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from .draw import RowSampling, block_maxima, sample
from .grammar import advance_grammars, apply_grammars


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
        if self.ids is None or self.penalty is None:
            self.ids, self.pads, self.penalty = ids, [0] * ids.shape[0], penalties
            return
        width = max(self.ids.shape[1], ids.shape[1])
        grow = width - self.ids.shape[1]
        self.ids = torch.cat([_pad_left(self.ids, grow), _pad_left(ids, width - ids.shape[1])], dim=0)
        self.pads = [p + grow for p in self.pads] + [width - ids.shape[1]] * ids.shape[0]
        self.penalty = torch.cat([self.penalty, penalties], dim=0)

    def running(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids and the penalties, [rows, width] and [rows, 1]: only while rows run."""
        if self.ids is None or self.penalty is None:
            raise RuntimeError("no rows are running")
        return self.ids, self.penalty

    def append(self, tokens: torch.Tensor) -> None:
        ids, _ = self.running()
        self.ids = torch.cat([ids, tokens.view(-1, 1).to(ids.dtype)], dim=1)

    def keep(self, indices: list[int]) -> None:
        if not indices:
            self.ids, self.pads, self.penalty = None, [], None
            return
        ids, penalty = self.running()
        index = torch.tensor(indices, device=ids.device)
        self.pads = [self.pads[i] for i in indices]
        trim = min(self.pads)
        self.ids = ids.index_select(0, index)[:, trim:]
        self.penalty = penalty.index_select(0, index)
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
            ids, values = zip(*row.params.logit_bias, strict=False)
            index = torch.tensor(ids, device=logits.device)
            logits[i].index_add_(0, index, torch.tensor(values, dtype=logits.dtype, device=logits.device))


def apply_presence_frequency(
    logits: torch.Tensor, history: torch.Tensor, generated: list[int], rows: list[RowSampling]
) -> None:
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


class SamplingFailed(ValueError):
    """One row's adjusted scores are not a distribution (NaN or no finite logit)."""


# On the CPU a choice over at most this many logits runs on the calling thread alone. Each
# vocabulary-wide op (penalty, maxima, the sampler's scale, exp and block sums) is otherwise
# split over torch's intra-op threads (OpenMP, and MKL's own for exp), which have usually gone
# to sleep during the Python work between two such ops: waking them costs more than the op
# itself saves for a row or two (benchmarks/choose.py --serial-limit measures both ways; the
# limit is taken from those runs).
SERIAL_LOGITS = 2 * 152_064


@contextlib.contextmanager
def _serial(logits: torch.Tensor) -> Iterator[None]:
    """torch.set_num_threads sets OpenMP's and MKL's counts for the calling thread only; limiting
    OpenMP alone (threadpoolctl) leaves MKL's exp on two threads and was slower than not limiting.
    It also acts process-wide: it sets the count a new thread starts with (so the pools that run
    torch ops start their threads with their own: threads.keep_torch_threads), sizes torch's
    shared pthreadpool (QNNPACK, XNNPACK, some NNPACK convolutions) and clears oneDNN's
    primitive cache; the benchmarks that set SERIAL_LOGITS include those costs."""
    threads = torch.get_num_threads()
    if logits.device.type != "cpu" or logits.numel() > SERIAL_LOGITS or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def choose_tokens(
    logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor, rows: list[RowSampling], generated: list[int]
) -> list[int | Exception]:
    """Every row's next token. `logits` [rows, vocab] float32 is adjusted in place (vLLM's order:
    logit bias, then the repetition penalty, then presence/frequency; then temperature, top-k,
    top-p and min-p for rows that sample, all rows in one batched pass). A row whose scores
    break (NaN, nothing finite) gets its exception in place of a token; the others go on."""
    with _serial(logits):
        return _choose(logits, history, penalty, rows, generated)


def _choose(
    logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor, rows: list[RowSampling], generated: list[int]
) -> list[int | Exception]:
    if any(row.params.logit_bias for row in rows):
        apply_logit_bias(logits, rows)
    if any(row.params.repetition_penalty != 1.0 for row in rows):
        apply_repetition_penalty(logits, history, penalty)
    if any(row.params.presence_penalty or row.params.frequency_penalty for row in rows) and any(generated):
        apply_presence_frequency(logits, history, generated, rows)
    grammars = [row.grammar for row in rows]
    failed = apply_grammars(logits, grammars) if any(grammars) else [None] * len(rows)
    tokens: list[int | Exception]
    maxima = None
    if any(row.params.greedy for row in rows):
        best, argmax = logits.max(dim=-1)  # NaN anywhere in a row makes its max NaN
        tokens = list(argmax.tolist())
    else:  # the maxima alone, per block (top-k rows find their candidates from them): a quarter of
        # the time of max-with-indices over [rows, vocab]
        maxima = block_maxima(logits)
        best = logits.amax(dim=-1) if maxima is None else maxima.amax(dim=-1)
        tokens = [0] * len(rows)
    broken = [math.isnan(b) or b == -math.inf for b in best.tolist()]
    sampled = []
    for i, row in enumerate(rows):
        if failed[i] is not None:
            tokens[i] = SamplingFailed(f"structured output failed: {failed[i]}")
        elif broken[i]:
            tokens[i] = SamplingFailed("the adjusted logits are not finite (check the penalties and logit_bias)")
        elif not row.params.greedy:
            sampled.append(i)
    if sampled:
        whole = len(sampled) == len(rows)
        drawn = sample(
            logits if whole else logits[sampled],
            best if whole else best[sampled],
            [rows[i] for i in sampled],
            maxima=maxima if whole else None,
        )
        for i, token in zip(sampled, drawn, strict=False):
            tokens[i] = (
                token
                if token is not None
                else SamplingFailed(
                    f"temperature {rows[i].params.temperature:g} and the penalties left no valid distribution"
                )
            )
    if any(grammars):
        _advance(grammars, tokens)
    return tokens


def _advance(grammars: list, tokens: list[int | Exception]) -> None:
    """Each constrained row's grammar takes the row's token."""
    for i, failure in enumerate(advance_grammars(grammars, tokens)):
        if failure is not None:
            tokens[i] = SamplingFailed(f"structured output failed: {failure}")


def token_logprobs(logits: torch.Tensor, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """The model's own log-probability of `token` (raw logits, before any adjustment)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    best = torch.topk(logprobs, top) if top > 0 else None
    alternatives = list(zip(best.indices.tolist(), best.values.tolist(), strict=False)) if best is not None else []
    return float(logprobs[token]), alternatives
