"""The engine loop: admit, prefill, decode, retire — on one thread.

Each iteration spends at most `max_prefill_tokens` prompt tokens of prefill work
(always at least one piece), then runs one decode step for every running row. A
prompt that fits the budget is prefilled whole; the prompts admitted in the same
iteration (while their total stays within the budget) are prefilled together, as
one left-padded forward pass. A longer prompt is prefilled in chunks of
`max_prefill_tokens` tokens, one or more per iteration, so running rows keep
decoding between its chunks (its vision encoder runs once, with the first chunk).
Chunk boundaries depend only on the prompt and the budget, never on what else is
running. Rows join the batch after their prefill and leave as soon as they finish.

Choosing tokens is one batched step for the whole batch (sampler.py); only the
per-choice bookkeeping (text, stop strings, deltas) is per row.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque

import torch

from ..base import EngineError, EngineOverloadedError, EngineStats, TokenLogprob
from .runner import ModelRunner, PartialPrefill
from .sampler import History, choose_tokens, token_logprobs
from .sequence import Group, Row, accept_token, finish_row

log = logging.getLogger(__name__)

DONE = object()  # sent to a group's emit when it has nothing more to say


class Scheduler:
    def __init__(self, runner: ModelRunner, max_num_seqs: int, max_queued: int, max_prefill_tokens: int) -> None:
        if max_prefill_tokens < 1:
            raise ValueError("max_prefill_tokens must be at least 1")
        self.runner = runner
        self.max_num_seqs = max_num_seqs
        self.max_queued = max_queued
        self.max_prefill_tokens = max_prefill_tokens
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet prefilled
        self.waiting: deque[Group] = deque()
        self.running: list[Row] = []
        self.history = History()  # the running rows' token ids, for the repetition penalty
        self.partial: tuple[Group, PartialPrefill] | None = None  # a long prompt being prefilled in chunks
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="engine-loop", daemon=True)
        self._thread.start()

    # ---- called from the event loop --------------------------------------------

    def submit(self, group: Group) -> None:
        with self._lock:
            if self._pending >= self.max_queued:
                raise EngineOverloadedError(f"server busy: {self._pending} requests already waiting", retry_after=1)
            self._pending += 1
        self._inbox.put(group)

    def wake(self) -> None:
        self._inbox.put(None)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the loop after its current step and wait for it (blocking): a process that exits
        while the thread is inside a torch call can abort in C++ ("terminate called ...")."""
        self._stopped.set()
        self.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()

    def stats(self) -> EngineStats:
        groups = {id(row.group) for row in self.running}
        return EngineStats(len(self.running), len(groups), self._pending)

    # ---- the engine thread ---------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._take_inbox(block=not self.running and not self.waiting and self.partial is None)
            try:
                self._step()
            except Exception as exc:  # the loop must survive: fail what is running, keep serving
                log.exception("engine step failed")
                self._fail_all(EngineError(f"generation failed: {type(exc).__name__}: {exc}"))

    def _step(self) -> None:
        self._drop_aborted()
        self._prefill_within_budget()
        if self.running:
            self._decode()

    def _take_inbox(self, block: bool) -> None:
        try:
            item = self._inbox.get(block=block)
            while True:
                if item is not None:
                    self.waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            pass

    def _prefill_within_budget(self) -> None:
        """Prefill pieces (whole prompts or chunks) while their tokens fit this iteration's budget.
        Whole prompts admitted together are prefilled together, as one left-padded batch."""
        spent = 0
        batch: list[Group] = []
        seats = len(self.running)
        while True:
            if self.partial is not None:
                size = min(self.partial[1].remaining, self.max_prefill_tokens)
                if spent and spent + size > self.max_prefill_tokens:
                    break
                spent += size
                self._prefill_chunk()
                seats = len(self.running)
                continue
            if not self.waiting or seats + self.waiting[0].sampling.n > self.max_num_seqs:
                break
            group = self.waiting[0]
            size = min(group.prompt_tokens, self.max_prefill_tokens)
            if spent and spent + size > self.max_prefill_tokens:
                break
            spent += size
            self.waiting.popleft()
            with self._lock:
                self._pending -= 1
            if group.prompt_tokens <= self.max_prefill_tokens:
                batch.append(group)
                seats += group.sampling.n
            else:
                self._prefill_batches(batch)
                batch = []
                self._start_chunked(group)
                seats = len(self.running)
        self._prefill_batches(batch)

    def _prefill_batches(self, groups: list[Group]) -> None:
        """Whole prompts in forward passes whose padded size stays within the budget."""
        while groups:
            take, width = 1, groups[0].prompt_tokens
            while take < len(groups):
                wider = max(width, groups[take].prompt_tokens)
                if wider * (take + 1) > self.max_prefill_tokens:
                    break
                take, width = take + 1, wider
            if take == 1:
                self._prefill(groups[0])
            else:
                self._prefill_together(groups[:take])
            groups = groups[take:]

    def _drop_aborted(self) -> None:
        for group in [g for g in self.waiting if g.aborted.is_set()]:
            self.waiting.remove(group)
            with self._lock:
                self._pending -= 1
            group.emit(DONE)
        if self.partial is not None and self.partial[0].aborted.is_set():
            self.partial[0].emit(DONE)
            self.partial = None
        for row in self.running:
            if row.group.aborted.is_set():
                finish_row(row, "abort")
        self._retire()

    def _prefill(self, group: Group) -> None:
        try:
            logits, cache, delta = self.runner.prefill(group.inputs)
            self._prefilled(group, logits, cache, delta)
        except Exception as exc:  # one bad request must not take the engine down
            self._prefill_failed(group, exc)

    def _prefill_together(self, groups: list[Group]) -> None:
        try:
            logits, cache, deltas, pads = self.runner.prefill_batch([group.inputs for group in groups])
        except Exception:  # find the culprit alone, without failing its neighbours
            log.warning("batched prefill failed; prefilling %d requests one by one", len(groups), exc_info=True)
            for group in groups:
                self._prefill(group)
            return
        repeats = []
        for i, group in enumerate(groups):
            try:
                rows = self._first_tokens(group, logits[i], deltas[i])
            except Exception as exc:
                self._prefill_failed(group, exc)
                rows = []
            repeats.append(len(rows))
            self.running.extend(rows)
        if any(repeats):
            self.runner.join(cache, repeats, pads)
        self._retire()

    def _start_chunked(self, group: Group) -> None:
        try:
            self.partial = (group, self.runner.start_prefill(group.inputs))
        except Exception as exc:
            self._prefill_failed(group, exc)
            return
        self._prefill_chunk()

    def _prefill_chunk(self) -> None:
        group, state = self.partial
        try:
            logits = self.runner.prefill_chunk(state, self.max_prefill_tokens)
            if logits is not None:
                self.partial = None
                self._prefilled(group, logits, state.cache, state.delta)
        except Exception as exc:
            self.partial = None
            self._prefill_failed(group, exc)

    @staticmethod
    def _prefill_failed(group: Group, exc: Exception) -> None:
        log.exception("prefill failed for %s", group.request_id, exc_info=exc)
        group.emit(EngineError(f"prefill failed: {type(exc).__name__}: {exc}"))
        group.emit(DONE)

    def _prefilled(self, group: Group, logits: torch.Tensor, cache, delta: int) -> None:
        rows = self._first_tokens(group, logits, delta)
        if rows:
            self.runner.join(cache, [len(rows)], [0])
            self.running.extend(rows)
            self._retire()

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
        tokens = self._choose(rows, logits.view(1, -1).repeat(len(rows), 1), prompt, penalty)
        if group.done:
            group.emit(DONE)
            return []
        self.history.join(torch.cat([prompt, torch.tensor(tokens, device=prompt.device).view(-1, 1)], dim=1),
                          group.sampling.repetition_penalty)
        return rows

    def _decode(self) -> None:
        try:
            logits = self.runner.decode(self.running)
        except Exception as exc:
            log.exception("decode step failed")
            self._fail_all(EngineError(f"generation failed: {type(exc).__name__}: {exc}"))
            return
        for row in self.running:
            row.length += 1
        tokens = self._choose(self.running, logits, self.history.ids, self.history.penalty)
        self.history.append(torch.tensor(tokens, device=self.history.ids.device))
        self._retire()

    def _choose(self, rows: list[Row], logits: torch.Tensor, history: torch.Tensor,
                penalty: torch.Tensor) -> list[int]:
        """Choose every row's next token in one batched step, then account for each."""
        raw = {i: logits[i].clone() for i, row in enumerate(rows) if row.group.sampling.logprobs}
        chosen = choose_tokens(logits, history, penalty, [row.sampling for row in rows],
                               [row.generated for row in rows])
        tokens = []
        for i, (row, token) in enumerate(zip(rows, chosen)):
            if isinstance(token, Exception):
                self._fail_group(row.group, token)
                token = 0  # a placeholder in the history; the row leaves at the next retire
            elif row.finish is None:
                accept_token(row, token, self._logprob(row, raw[i], token) if i in raw else None)
            tokens.append(token)
        return tokens

    @staticmethod
    def _fail_group(group: Group, exc: Exception) -> None:
        """One request's sampling failed: end all its choices with an error; others go on."""
        if group.done:
            return
        log.warning("sampling failed for %s: %s", group.request_id, exc)
        for row in group.rows:
            row.finish = row.finish or "abort"
        group.emit(EngineError(f"sampling failed: {exc}"))

    @staticmethod
    def _logprob(row: Row, logits: torch.Tensor, token: int) -> TokenLogprob | None:
        params = row.group.sampling
        if not params.logprobs:
            return None
        logprob, top = token_logprobs(logits, token, params.top_logprobs)
        text = row.group.token_text
        return TokenLogprob(text(token), logprob, tuple((text(t), lp) for t, lp in top))

    def _retire(self) -> None:
        keep = [i for i, row in enumerate(self.running) if row.finish is None]
        if len(keep) == len(self.running):
            return
        finished = {id(row.group): row.group for row in self.running if row.finish is not None}
        self.runner.keep(keep)
        self.history.keep(keep)
        self.running = [self.running[i] for i in keep]
        for group in finished.values():
            if group.done:
                group.emit(DONE)

    def _fail_all(self, error: EngineError) -> None:
        groups = {id(row.group): row.group for row in self.running}
        for group in groups.values():
            for row in group.rows:
                row.finish = row.finish or "abort"
            group.emit(error)
            group.emit(DONE)
        self.running = []
        self.runner.keep([])
        self.history.keep([])
        if self.partial is not None:
            self.partial[0].emit(error)
            self.partial[0].emit(DONE)
            self.partial = None
