"""The engine loop: admit, prefill, decode, retire — on one thread.

Requests arrive from the event loop (`submit`) and wait in a queue. Each iteration
plans from plain numbers (plan.py: what to drop, which prefill pieces to run within
`max_prefill_tokens`, whether to decode) and carries the plan out: the model calls
go to the runner (runner.py), and the rows that a prefill yields join the running
batch (batch.py), which then takes one decode step. A long prompt's chunks depend
only on the prompt and the budget, never on what else is running, and its vision
encoder runs once, with the first chunk; running rows keep decoding between chunks.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from typing import NamedTuple

from ..base import EngineError, EngineOverloadedError, EngineStats
from .batch import RunningBatch, prefill_failed
from .plan import Chunking, EngineState, Limits, Queued, StepPlan, plan_step
from .runner import ModelRunner, PartialPrefill, Prefilled
from .sequence import DONE, Group, Row, finish_row

log = logging.getLogger(__name__)


class ChunkedPrompt(NamedTuple):
    """A prompt longer than the prefill budget, being prefilled chunk by chunk."""

    group: Group
    state: PartialPrefill


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
        self.batch = RunningBatch(runner)
        self.partial: ChunkedPrompt | None = None
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

    @property
    def running(self) -> list[Row]:
        return self.batch.rows

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
        """Plan from one look at the state, then act: drop, prefill, decode."""
        queued = list(self.waiting)
        plan = self._plan(queued)
        self._drop(plan, queued)
        self._prefill_planned(plan, queued)
        if plan.decode and self.running:
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

    def _plan(self, queued: list[Group], spent: int = 0, aborts: bool = True) -> StepPlan:
        """Plan from the engine's state (`queued`: the waiting groups now); with `aborts` false,
        aborted requests are planned like the others (they are dropped at the next iteration)."""

        def aborted(group: Group) -> bool:
            return aborts and group.aborted.is_set()

        chunking = None
        if self.partial is not None:
            chunking = Chunking(self.partial.state.remaining, aborted(self.partial.group))
        state = EngineState(
            queued=tuple(Queued(group.prompt_tokens, group.sampling.n, aborted(group)) for group in queued),
            running=len(self.running),
            aborted_rows=tuple(i for i, row in enumerate(self.running) if aborted(row.group)),
            chunking=chunking,
            spent=spent,
        )
        return plan_step(state, Limits(self.max_num_seqs, self.max_prefill_tokens))

    def _drop_aborted(self) -> None:
        """Drop what was aborted, and nothing else."""
        queued = list(self.waiting)
        self._drop(self._plan(queued), queued)

    def _drop(self, plan: StepPlan, queued: list[Group]) -> None:
        for i in plan.drop:
            self.waiting.remove(queued[i])
            with self._lock:
                self._pending -= 1
            queued[i].emit(DONE)
        if plan.drop_chunking and self.partial is not None:  # the plan drops only a prompt being chunked
            self.partial.group.emit(DONE)
            self.partial = None
        for i in plan.abort_rows:
            finish_row(self.running[i], "abort")
        self.batch.retire()

    def _prefill_within_budget(self) -> None:
        """This iteration's prefill alone (what is aborted is not looked at)."""
        queued = list(self.waiting)
        self._prefill_planned(self._plan(queued, aborts=False), queued)

    def _prefill_planned(self, plan: StepPlan, queued: list[Group]) -> None:
        """The chunked prompt's next chunk; once that prompt is over, the queue is planned again with
        the budget left. Then the admitted prompts: whole ones together, a long one chunked."""
        if plan.chunk and self.partial is not None:  # the plan has a chunk only for a prompt being chunked
            self._prefill_chunk(self.partial, plan.chunk)
            if self.partial is not None:
                return
            queued = list(self.waiting)
            plan = self._plan(queued, spent=plan.chunk, aborts=False)
        for _ in plan.admitted:  # the first of the queue (the dropped ones are gone)
            self.waiting.popleft()
        with self._lock:
            self._pending -= len(plan.admitted)
        for batch in plan.batches:
            if len(batch) == 1:
                self._prefill(queued[batch[0]])
            else:
                self._prefill_together([queued[i] for i in batch])
        if plan.start_chunked is not None:
            self._start_chunked(queued[plan.start_chunked])

    def _prefill(self, group: Group) -> None:
        try:
            self.batch.join(group, self.runner.prefill(group.inputs))
        except Exception as exc:  # one bad request must not take the engine down
            prefill_failed(group, exc)

    def _prefill_together(self, groups: list[Group]) -> None:
        try:
            prefilled = self.runner.prefill_batch([group.inputs for group in groups])
        except Exception:  # find the culprit alone, without failing its neighbours
            log.warning("batched prefill failed; prefilling %d requests one by one", len(groups), exc_info=True)
            for group in groups:
                self._prefill(group)
            return
        self.batch.join_together(groups, prefilled)

    def _start_chunked(self, group: Group) -> None:
        try:
            self.partial = partial = ChunkedPrompt(group, self.runner.start_prefill(group.inputs))
        except Exception as exc:
            prefill_failed(group, exc)
            return
        self._prefill_chunk(partial, self.max_prefill_tokens)

    def _prefill_chunk(self, partial: ChunkedPrompt, size: int) -> None:
        group, state = partial
        try:
            logits = self.runner.prefill_chunk(state, size)
            if logits is not None:
                self.partial = None
                self.batch.join(group, Prefilled(logits, state.cache, state.delta))
        except Exception as exc:
            self.partial = None
            prefill_failed(group, exc)

    def _decode(self) -> None:
        try:
            logits = self.runner.decode(self.running)
        except Exception as exc:
            log.exception("decode step failed")
            self._fail_all(EngineError(f"generation failed: {type(exc).__name__}: {exc}"))
            return
        self.batch.advance(logits)

    def _fail_all(self, error: EngineError) -> None:
        self.batch.fail_all(error)
        if self.partial is not None:
            self.partial.group.emit(error)
            self.partial.group.emit(DONE)
            self.partial = None
