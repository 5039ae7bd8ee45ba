"""The engine loop: admit, prefill, decode, retire — on one thread.

Each iteration prefills at most one waiting request (so a newcomer delays the
running ones by about one prefill), then runs one decode step for every running
row. Rows join the batch after their prefill and leave as soon as they finish.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass

import torch

from .base import EngineError, EngineOverloadedError, TokenLogprob
from .runner import ModelRunner
from .sampler import choose, token_logprobs
from .sequence import Group, Row, accept_token, finish_row

log = logging.getLogger(__name__)

DONE = object()  # sent to a group's emit when it has nothing more to say


@dataclass(frozen=True)
class SchedulerStats:
    running_rows: int
    running_requests: int
    waiting_requests: int


class Scheduler:
    def __init__(self, runner: ModelRunner, max_num_seqs: int, max_queued: int) -> None:
        self.runner = runner
        self.max_num_seqs = max_num_seqs
        self.max_queued = max_queued
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet prefilled
        self.waiting: deque[Group] = deque()
        self.running: list[Row] = []
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

    def stop(self) -> None:
        self._stopped.set()
        self.wake()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()

    def stats(self) -> SchedulerStats:
        groups = {id(row.group) for row in self.running}
        return SchedulerStats(len(self.running), len(groups), self._pending)

    # ---- the engine thread ---------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._take_inbox(block=not self.running and not self.waiting)
            self._drop_aborted()
            group = self._next_admissible()
            if group is not None:
                self._prefill(group)
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

    def _next_admissible(self) -> Group | None:
        if self.waiting and len(self.running) + self.waiting[0].sampling.n <= self.max_num_seqs:
            with self._lock:
                self._pending -= 1
            return self.waiting.popleft()
        return None

    def _drop_aborted(self) -> None:
        for group in [g for g in self.waiting if g.aborted.is_set()]:
            self.waiting.remove(group)
            with self._lock:
                self._pending -= 1
            group.emit(DONE)
        for row in self.running:
            if row.group.aborted.is_set():
                finish_row(row, "abort")
        self._retire()

    def _prefill(self, group: Group) -> None:
        try:
            logits, cache, delta = self.runner.prefill(group.inputs)
        except Exception as exc:  # one bad request must not take the engine down
            log.exception("prefill failed for %s", group.request_id)
            group.emit(EngineError(f"prefill failed: {type(exc).__name__}: {exc}"))
            group.emit(DONE)
            return
        if group.score_ids is not None:
            group.emit(torch.log_softmax(logits, dim=-1)[list(group.score_ids)].tolist())
            group.emit(DONE)
            return
        rows = group.make_rows(delta)
        for row in rows:
            self._accept(row, logits)
        if group.done:
            group.emit(DONE)
            return
        self.runner.join(cache, len(rows))
        self.running.extend(rows)
        self._retire()

    def _decode(self) -> None:
        try:
            logits = self.runner.decode(self.running)
        except Exception as exc:
            log.exception("decode step failed")
            self._fail_all(EngineError(f"generation failed: {type(exc).__name__}: {exc}"))
            return
        for i, row in enumerate(self.running):
            row.length += 1
            self._accept(row, logits[i])
        self._retire()

    def _accept(self, row: Row, logits: torch.Tensor) -> None:
        token = choose(logits, row.sampling)
        accept_token(row, token, self._logprob(row, logits, token))

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
