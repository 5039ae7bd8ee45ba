"""What one iteration of the engine loop does, decided from plain numbers: no torch, no model, no threads.

`plan_step` looks at the queue (each waiting request's prompt size and choices), the running rows,
the prompt being prefilled in chunks and the limits, and returns a `StepPlan`: what to drop (aborted),
which prefill pieces to run and whether a decode step follows. scheduler.py carries it out.

The rules: an iteration spends at most `max_prefill_tokens` prompt tokens of prefill (no piece is
larger, so its first piece always goes). The prompt being chunked goes first. Then waiting requests
are admitted in order while their rows fit `max_num_seqs` and their prompts fit the budget; those
admitted together are prefilled whole, in left-padded forward passes whose padded size stays within
the budget. A prompt longer than the budget starts a chunked prefill (chunks of `max_prefill_tokens`),
which takes the iteration's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Limits:
    max_num_seqs: int  # rows decoded together
    max_prefill_tokens: int  # prompt tokens prefilled per iteration, at most


@dataclass(frozen=True)
class Queued:
    """A waiting request, as the planner sees it."""

    prompt_tokens: int
    n: int = 1  # its choices: the rows it takes once prefilled
    aborted: bool = False


@dataclass(frozen=True)
class Chunking:
    """The prompt being prefilled in chunks."""

    remaining: int  # its prompt tokens not prefilled yet
    aborted: bool = False


@dataclass(frozen=True)
class EngineState:
    queued: tuple[Queued, ...] = ()  # in queue order
    running: int = 0  # rows in the batch
    aborted_rows: tuple[int, ...] = ()  # positions of the running rows whose request was aborted
    chunking: Chunking | None = None
    spent: int = 0  # prefill tokens this iteration has spent already


@dataclass(frozen=True)
class StepPlan:
    """One iteration, in the order the scheduler carries it out. Requests are named by their position
    in `EngineState.queued`; the admitted ones are the first of the queue once the dropped ones are gone.
    When `chunk` ends its prompt, the queue gets the budget it left: the scheduler plans again (with
    `EngineState.spent`) once that prompt's rows have joined, as how many do (none for a score request,
    or one that failed or ended at its first token) decides the seats left."""

    drop: tuple[int, ...] = ()  # queued requests aborted before their prefill
    drop_chunking: bool = False  # the chunked prompt's request was aborted
    abort_rows: tuple[int, ...] = ()  # running rows whose request was aborted
    chunk: int = 0  # tokens of the chunked prompt to prefill first (0: none)
    batches: tuple[tuple[int, ...], ...] = ()  # queued prompts prefilled whole: one forward pass each
    start_chunked: int | None = None  # then a queued prompt longer than the budget: its first chunk
    decode: bool = False  # a decode step follows (for the rows still running by then)

    @property
    def admitted(self) -> tuple[int, ...]:
        """The queued requests prefilled this iteration, in queue order."""
        whole = tuple(i for batch in self.batches for i in batch)
        return whole if self.start_chunked is None else (*whole, self.start_chunked)


def plan_step(state: EngineState, limits: Limits) -> StepPlan:
    """Decide one iteration of the engine loop (see the module docstring for the rules)."""
    abort_rows = tuple(sorted(state.aborted_rows))
    rows = state.running - len(abort_rows)
    plan = StepPlan(
        drop=tuple(i for i, queued in enumerate(state.queued) if queued.aborted),
        drop_chunking=state.chunking is not None and state.chunking.aborted,
        abort_rows=abort_rows,
        decode=rows > 0,
    )
    if state.chunking is not None and not plan.drop_chunking:
        return _next_chunk(plan, state.chunking.remaining, state.spent, limits)
    return _admit(plan, state, rows, limits)


def _next_chunk(plan: StepPlan, remaining: int, spent: int, limits: Limits) -> StepPlan:
    size = min(remaining, limits.max_prefill_tokens)
    if spent + size > limits.max_prefill_tokens:
        return plan
    return replace(plan, chunk=size, decode=plan.decode or size == remaining)


def _admit(plan: StepPlan, state: EngineState, rows: int, limits: Limits) -> StepPlan:
    """Admit waiting requests in order while their rows and prompt tokens fit."""
    budget, spent, seats = limits.max_prefill_tokens, state.spent, rows
    whole: list[int] = []
    for i, queued in enumerate(state.queued):
        if queued.aborted:
            continue
        size = min(queued.prompt_tokens, budget)  # a longer prompt's first chunk
        if seats + queued.n > limits.max_num_seqs or spent + size > budget:
            break
        spent += size
        if queued.prompt_tokens > budget:  # its first chunk takes the budget: nothing else fits after it
            return replace(plan, batches=_forward_passes(whole, state.queued, budget), start_chunked=i, decode=True)
        whole.append(i)
        seats += queued.n
    return replace(plan, batches=_forward_passes(whole, state.queued, budget), decode=plan.decode or bool(whole))


def _forward_passes(whole: list[int], queued: tuple[Queued, ...], budget: int) -> tuple[tuple[int, ...], ...]:
    """Group whole prompts, in order, into forward passes whose padded size (longest prompt x
    prompts) stays within the budget."""
    passes = []
    while whole:
        take, width = 1, queued[whole[0]].prompt_tokens
        while take < len(whole):
            wider = max(width, queued[whole[take]].prompt_tokens)
            if wider * (take + 1) > budget:
                break
            take, width = take + 1, wider
        passes.append(tuple(whole[:take]))
        whole = whole[take:]
    return tuple(passes)
