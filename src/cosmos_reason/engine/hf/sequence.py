"""Per-request and per-choice state inside the batching engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..base import Delta, FinishReason, SamplingParams, TokenLogprob
from .detokenize import Decode, IncrementalDetokenizer, StopMatcher
from .draw import RowSampling

DONE = object()  # sent to a group's emit when it has nothing more to say


@dataclass
class Row:
    """One choice being generated: a row of the running batch."""

    group: Group
    index: int  # choice index within the request
    detok: IncrementalDetokenizer
    stops: StopMatcher
    sampling: RowSampling
    length: int  # real tokens in its KV cache (prompt + generated so far)
    rope_delta: int
    generated: int = 0
    finish: FinishReason | None = None
    next_token: int | None = None  # chosen, not yet fed to the model


@dataclass
class Group:
    """One request: its prepared inputs, its rows once prefilled, and where deltas go."""

    request_id: str
    inputs: Any  # processor output (BatchFeature)
    sampling: SamplingParams
    emit: Callable[[object], object]  # what it returns is ignored
    eos_ids: frozenset[int]
    decode: Decode
    token_text: Callable[[int], str]
    aborted: threading.Event = field(default_factory=threading.Event)
    rows: list[Row] = field(default_factory=list)
    prompt_tokens: int = 0
    queue: Any = None  # the event loop's end of emit
    score_ids: tuple[int, ...] | None = None  # prefill only: report these tokens' log-probabilities
    grammar: Any = None  # structured output: its CompiledGrammar (grammar.py), each row gets its own state

    @property
    def prompt_ids(self) -> torch.Tensor:
        return self.inputs["input_ids"][0]

    def make_rows(self, rope_delta: int) -> list[Row]:
        seed = self.sampling.seed
        self.rows = [
            Row(
                group=self,
                index=i,
                detok=IncrementalDetokenizer(self.decode),
                stops=StopMatcher(self.sampling.stop),
                sampling=RowSampling(
                    self.sampling,
                    _generator(seed, i, self.prompt_ids.device),
                    self.grammar.row(self.sampling.max_tokens) if self.grammar else None,
                ),
                length=self.prompt_tokens,
                rope_delta=rope_delta,
            )
            for i in range(self.sampling.n)
        ]
        return self.rows

    @property
    def done(self) -> bool:
        return all(row.finish is not None for row in self.rows)


def _generator(seed: int | None, index: int, device: torch.device) -> torch.Generator | None:
    """A seeded choice's own generator, on the device its logits are on (the prompt's, once
    prefilled): multinomial refuses a generator from another device."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed + index)


def accept_token(row: Row, token: int, logprob: TokenLogprob | None) -> None:
    """Account for a chosen token: text, stop strings, eos and length; emit what is new."""
    group, params = row.group, row.group.sampling
    row.generated += 1
    logprobs = (logprob,) if logprob is not None else ()
    if token in group.eos_ids:
        finish_row(row, "stop", logprobs)
        return
    text = row.stops.push(row.detok.push(token))
    reason: FinishReason | None = "stop" if row.stops.stopped else None
    if reason is None and row.generated >= params.max_tokens:
        text += row.stops.push(row.detok.flush())
        reason = "stop" if row.stops.stopped else "length"
        text += row.stops.flush()
    if reason is not None:
        _emit(row, text, reason, logprobs)
        row.finish = reason
        return
    row.next_token = token
    if text or logprobs:
        _emit(row, text, None, logprobs)


def finish_row(row: Row, reason: FinishReason, logprobs: tuple[TokenLogprob, ...] = ()) -> None:
    if row.finish is not None:
        return
    row.finish = reason
    text = row.stops.push(row.detok.flush())
    _emit(row, text + row.stops.flush(), "stop" if row.stops.stopped else reason, logprobs)


def _emit(row: Row, text: str, finish: FinishReason | None, logprobs: tuple[TokenLogprob, ...]) -> None:
    group = row.group
    group.emit(Delta(row.index, text, group.prompt_tokens, row.generated, finish, logprobs))
