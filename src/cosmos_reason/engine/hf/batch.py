"""The running batch: the rows being decoded, kept in one order with their KV cache rows (in the
runner) and their token history (for the repetition penalty). Rows join after their request's
prefill, with their first token chosen, and leave as soon as they finish.

Choosing tokens is one batched step for the whole batch (sampler.py); only the per-choice
bookkeeping (text, stop strings, deltas: sequence.py) is per row.
"""

from __future__ import annotations

import logging

import torch

from ..base import EngineError, TokenLogprob
from .runner import BatchPrefilled, ModelRunner, Prefilled
from .sampler import History, choose_tokens, token_logprobs
from .sequence import DONE, Group, Row, accept_token

log = logging.getLogger(__name__)


class RunningBatch:
    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner
        self.rows: list[Row] = []
        self.history = History()  # the running rows' token ids, for the repetition penalty

    def join(self, group: Group, prefilled: Prefilled) -> None:
        """A group prefilled alone joins, its first tokens chosen."""
        rows = self._first_tokens(group, prefilled.logits, prefilled.delta)
        if rows:
            self.runner.join(prefilled.cache, [len(rows)], [0])
            self.rows.extend(rows)
            self.retire()

    def join_together(self, groups: list[Group], prefilled: BatchPrefilled) -> None:
        """Groups prefilled in one forward pass join; one whose first tokens fail fails alone."""
        repeats = []
        for i, group in enumerate(groups):
            try:
                rows = self._first_tokens(group, prefilled.logits[i], prefilled.deltas[i])
            except Exception as exc:
                prefill_failed(group, exc)
                rows = []
            repeats.append(len(rows))
            self.rows.extend(rows)
        if any(repeats):
            self.runner.join(prefilled.cache, repeats, prefilled.pads)
        self.retire()

    def _first_tokens(self, group: Group, logits: torch.Tensor, delta: int) -> list[Row]:
        """After a group's prefill (`logits`: its last position's): report a score, or choose every
        choice's first token. Returns the rows that join the batch (their history joined already);
        none when the group is over. The caller adds their KV rows in the same order."""
        if group.score_ids is not None:
            group.emit(torch.log_softmax(logits, dim=-1)[list(group.score_ids)].tolist())
            group.emit(DONE)
            return []
        rows = group.make_rows(delta)
        prompt = group.prompt_ids.to(logits.device).view(1, -1).expand(len(rows), -1)
        penalty = torch.full((len(rows), 1), float(group.sampling.repetition_penalty), device=logits.device)
        tokens = choose(rows, logits.view(1, -1).repeat(len(rows), 1), prompt, penalty)
        if group.done:
            group.emit(DONE)
            return []
        self.history.join(
            torch.cat([prompt, torch.tensor(tokens, device=prompt.device).view(-1, 1)], dim=1),
            group.sampling.repetition_penalty,
        )
        return rows

    def advance(self, logits: torch.Tensor) -> None:
        """After a decode step (`logits`: [rows, vocab]): choose every row's next token."""
        for row in self.rows:
            row.length += 1
        ids, penalty = self.history.running()
        tokens = choose(self.rows, logits, ids, penalty)
        self.history.append(torch.tensor(tokens, device=ids.device))
        self.retire()

    def retire(self) -> None:
        keep = [i for i, row in enumerate(self.rows) if row.finish is None]
        if len(keep) == len(self.rows):
            return
        finished = {id(row.group): row.group for row in self.rows if row.finish is not None}
        self.runner.keep(keep)
        self.history.keep(keep)
        self.rows = [self.rows[i] for i in keep]
        for group in finished.values():
            if group.done:
                group.emit(DONE)

    def fail_all(self, error: EngineError) -> None:
        """End every running request with `error` and empty the batch."""
        groups = {id(row.group): row.group for row in self.rows}
        for group in groups.values():
            for row in group.rows:
                row.finish = row.finish or "abort"
            group.emit(error)
            group.emit(DONE)
        self.rows = []
        self.runner.keep([])
        self.history.keep([])


def prefill_failed(group: Group, exc: Exception) -> None:
    log.exception("prefill failed for %s", group.request_id, exc_info=exc)
    group.emit(EngineError(f"prefill failed: {type(exc).__name__}: {exc}"))
    group.emit(DONE)


def choose(rows: list[Row], logits: torch.Tensor, history: torch.Tensor, penalty: torch.Tensor) -> list[int]:
    """Choose every row's next token in one batched step, then account for each."""
    raw = {i: logits[i].clone() for i, row in enumerate(rows) if row.group.sampling.logprobs}
    chosen = choose_tokens(logits, history, penalty, [row.sampling for row in rows], [row.generated for row in rows])
    tokens = []
    for i, (row, token) in enumerate(zip(rows, chosen, strict=False)):
        if isinstance(token, Exception):
            _fail_group(row.group, token)
            token = 0  # a placeholder in the history; the row leaves at the next retire
        elif row.finish is None:
            accept_token(row, token, _logprob(row, raw[i], token) if i in raw else None)
        tokens.append(token)
    return tokens


def _fail_group(group: Group, exc: Exception) -> None:
    """One request's sampling failed: end all its choices with an error; others go on."""
    if group.done:
        return
    log.warning("sampling failed for %s: %s", group.request_id, exc)
    for row in group.rows:
        row.finish = row.finish or "abort"
    group.emit(EngineError(f"sampling failed: {exc}"))


def _logprob(row: Row, logits: torch.Tensor, token: int) -> TokenLogprob | None:
    params = row.group.sampling
    if not params.logprobs:
        return None
    logprob, top = token_logprobs(logits, token, params.top_logprobs)
    text = row.group.token_text
    return TokenLogprob(text(token), logprob, tuple((text(t), lp) for t, lp in top))
