"""--max-prefill-tokens: prefill work between two decode steps is bounded; long prompts go in chunks."""

from __future__ import annotations

import asyncio

from cosmos_reason.engine.base import GenerationRequest, SamplingParams
from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine
from cosmos_reason.engine.hf.inputs import build_inputs

from .conftest import collect, text_conversation, wait_for
from .test_batching import gradient_image


def spy(obj, name: str, events: list[str], mark: str) -> None:
    original = getattr(obj, name)

    def wrapper(*args, **kwargs):
        events.append(mark)
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)


async def test_chunked_prefill_gives_the_same_greedy_output_as_a_whole_one(loaded):
    whole = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=4))
    chunked = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=4, max_prefill_tokens=16))
    chunks: list[str] = []
    spy(chunked.scheduler.runner, "prefill_chunk", chunks, "c")
    try:
        for question, image in (("What is in the picture?", gradient_image()), ("tell me more " * 12, None)):
            expected = await collect(whole, question, image, max_tokens=16, repetition_penalty=1.05)
            assert await collect(chunked, question, image, max_tokens=16, repetition_penalty=1.05) == expected
        assert len(chunks) >= 6  # both prompts really went in 16-token chunks
    finally:
        await whole.shutdown()
        await chunked.shutdown()


async def test_running_rows_keep_decoding_between_the_chunks_of_a_long_prompt(loaded):
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=4, max_prefill_tokens=8))
    events: list[str] = []
    spy(engine.scheduler.runner, "prefill_chunk", events, "c")
    spy(engine.scheduler.runner, "decode", events, "d")
    try:
        running = asyncio.ensure_future(collect(engine, "go", max_tokens=2000, ignore_eos=True))
        await wait_for(lambda: engine.stats().running_rows == 1)
        events.clear()
        out = await collect(engine, "a long prompt " * 10, max_tokens=2)
        assert out[0]["tokens"] == 2
        trace = "".join(events)
        assert trace.count("c") >= 5 and "cc" not in trace  # one 8-token chunk, then a decode step, ...
        running.cancel()
    finally:
        await engine.shutdown()


async def test_short_prompts_share_an_iteration_while_they_fit_the_budget(loaded):
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=8))
    scheduler = engine.scheduler
    scheduler.stop()
    scheduler._thread.join(timeout=10)  # drive the scheduler by hand from here
    loop = asyncio.get_running_loop()
    groups = []
    for question in ("one", "two", "three"):
        request = GenerationRequest(question, text_conversation(question), SamplingParams(max_tokens=4, temperature=0))
        groups.append(engine._group(request, build_inputs(loaded.processor, request.conversation, loaded.family), loop))
    scheduler.max_prefill_tokens = groups[0].prompt_tokens + groups[1].prompt_tokens  # room for two, not three
    scheduler.waiting.extend(groups)
    scheduler._pending = len(groups)
    scheduler._prefill_within_budget()
    assert [row.group for row in scheduler.running] == groups[:2] and list(scheduler.waiting) == groups[2:]
    scheduler._prefill_within_budget()
    assert [row.group for row in scheduler.running] == groups
    assert scheduler.stats().waiting_requests == 0
    scheduler.max_prefill_tokens = 1  # smaller than any prompt: still one piece per iteration
    late = engine._group(
        GenerationRequest("late", text_conversation("late"), SamplingParams(max_tokens=4)),
        build_inputs(loaded.processor, text_conversation("late"), loaded.family),
        loop,
    )
    scheduler.waiting.append(late)
    scheduler._pending = 1
    scheduler._prefill_within_budget()
    assert scheduler.partial is not None and scheduler.partial[1].done == 1
    late.aborted.set()
    scheduler._drop_aborted()
    assert scheduler.partial is None
    await engine.shutdown()


async def test_waiting_prompts_are_prefilled_together_and_answer_as_they_would_alone(loaded):
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=4, max_queued_requests=8))
    batches: list[str] = []
    spy(engine.scheduler.runner, "prefill_batch", batches, "b")
    questions = [("hello", None), ("What is in the picture?", gradient_image()), ("a b c d e f", None)]
    try:
        alone = [await collect(engine, q, image, max_tokens=12) for q, image in questions]
        assert batches == []
        blocker = asyncio.ensure_future(
            collect(engine, "block", n=4, temperature=1.0, max_tokens=5000, ignore_eos=True)
        )
        await wait_for(lambda: engine.stats().running_rows == 4)  # every seat taken: newcomers wait
        together = [asyncio.ensure_future(collect(engine, q, image, max_tokens=12)) for q, image in questions]
        await wait_for(lambda: engine.stats().waiting_requests == 3)
        blocker.cancel()  # the seats free at once; the three are admitted in one iteration
        assert [await t for t in together] == alone
        assert batches == ["b"]
    finally:
        await engine.shutdown()
