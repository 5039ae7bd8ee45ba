"""The hf engine on the real demo checkpoint: continuous batching that changes nothing a client sees."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image

from cosmos_reason.engine.base import EngineOverloadedError, GenerationRequest, SamplingParams
from cosmos_reason.engine.hf.inputs import build_inputs

from .conftest import collect, text_conversation, wait_for

PROMPTS = ["hello", "What happens when the ball is dropped?", "a b c d e f", "Describe the robot arm."]


def gradient_image(width: int = 84, height: int = 56) -> Image.Image:
    x = torch.linspace(0, 255, width).to(torch.uint8)
    return Image.fromarray(x.expand(height, width).unsqueeze(-1).expand(-1, -1, 3).contiguous().numpy())


async def test_greedy_in_a_batch_equals_greedy_alone(engine):
    image = gradient_image()
    alone = [await collect(engine, q, image if i == 1 else None, max_tokens=24) for i, q in enumerate(PROMPTS)]
    together = await asyncio.gather(
        *[collect(engine, q, image if i == 1 else None, max_tokens=24) for i, q in enumerate(PROMPTS)]
    )
    assert list(together) == alone


async def test_greedy_equals_transformers_generate(engine, loaded):
    image = gradient_image()
    ours = await collect(engine, "What is in the picture?", image, max_tokens=20, repetition_penalty=1.05)
    inputs = build_inputs(loaded.processor, text_conversation("What is in the picture?", image), loaded.family)
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=20, repetition_penalty=1.05)
    new = out[0, inputs["input_ids"].shape[1] :]
    assert ours[0]["text"] == loaded.processor.tokenizer.decode(new, skip_special_tokens=True)
    assert ours[0]["tokens"] == len(new)
    assert ours[0]["prompt_tokens"] == inputs["input_ids"].shape[1]


async def test_late_request_joins_and_short_one_does_not_wait_for_the_long_one(engine):
    long_task = asyncio.ensure_future(collect(engine, "long", max_tokens=200, ignore_eos=True))
    await wait_for(lambda: engine.stats().running_rows == 1)
    short = await collect(engine, "short", max_tokens=4, ignore_eos=True)
    assert short[0]["tokens"] == 4
    assert not long_task.done(), "the short request had to wait for the long one"
    assert (await long_task)[0]["tokens"] == 200


async def test_n_choices_share_one_prefill(engine, monkeypatch):
    calls = []
    original = engine.scheduler.runner.prefill
    monkeypatch.setattr(engine.scheduler.runner, "prefill", lambda inputs: calls.append(1) or original(inputs))
    out = await collect(engine, "hi", n=3, temperature=1.0, seed=5)
    assert len(calls) == 1 and sorted(out) == [0, 1, 2]
    assert len({out[i]["text"] for i in out}) > 1  # different samples


async def test_seeded_sampling_is_reproducible_even_beside_other_requests(engine):
    alone = await collect(engine, "seeded", temperature=0.9, top_p=0.9, top_k=50, seed=42)
    crowd = await asyncio.gather(
        collect(engine, "other one", temperature=1.0, max_tokens=30),
        collect(engine, "seeded", temperature=0.9, top_p=0.9, top_k=50, seed=42),
        collect(engine, "other two", temperature=1.0, max_tokens=30),
    )
    assert crowd[1] == alone


async def test_stop_strings_and_length(engine):
    free = await collect(engine, "hello", max_tokens=24, ignore_eos=True)
    text = free[0]["text"]
    stop = text[5:8]
    cut = await collect(engine, "hello", max_tokens=24, ignore_eos=True, stop=(stop,))
    assert cut[0]["text"] == text[: text.index(stop)]
    assert cut[0]["finish"] == "stop"
    assert free[0]["finish"] == "length" and free[0]["tokens"] == 24


async def test_disconnect_frees_the_slot_within_a_step(engine):
    request = GenerationRequest(
        "gone", text_conversation("go on"), SamplingParams(max_tokens=10_000, temperature=0.0, ignore_eos=True)
    )
    stream = engine.generate(request)
    await anext(stream)
    await wait_for(lambda: engine.stats().running_rows == 1)
    await stream.aclose()
    await wait_for(lambda: engine.stats().running_rows == 0, timeout=5)


async def test_full_queue_is_refused(loaded):
    from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine

    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=1, max_queued_requests=1))
    try:
        busy = asyncio.ensure_future(collect(engine, "busy", max_tokens=500, ignore_eos=True))
        await wait_for(lambda: engine.stats().running_rows == 1)
        queued = asyncio.ensure_future(collect(engine, "queued", max_tokens=2))
        await wait_for(lambda: engine.stats().waiting_requests == 1)
        with pytest.raises(EngineOverloadedError):
            await collect(engine, "refused", max_tokens=2)
        busy.cancel()
        assert (await queued)[0]["tokens"] == 2
    finally:
        await engine.shutdown()


async def test_logprobs_match_a_direct_forward_pass(engine, loaded):
    out = await collect(engine, "hello", max_tokens=3, logprobs=True, top_logprobs=5, repetition_penalty=1.0)
    entries = out[0]["logprobs"]
    assert len(entries) == 3 and all(len(e.top) == 5 for e in entries)
    inputs = build_inputs(loaded.processor, text_conversation("hello"), loaded.family)
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits[0, -1].float()
    expected = torch.log_softmax(logits, -1)
    first = entries[0]
    token_id = int(torch.argmax(expected))
    assert first.token == loaded.processor.tokenizer.decode([token_id])
    assert first.logprob == pytest.approx(float(expected[token_id]), abs=1e-4)
    assert first.top[0][1] == pytest.approx(float(expected.max()), abs=1e-4)


async def test_abort_by_request_id_stops_the_generation(engine):
    task = asyncio.ensure_future(collect(engine, "abort me", request_id="abort-me", max_tokens=5000, ignore_eos=True))
    await wait_for(lambda: engine.stats().running_rows == 1)
    await engine.abort("abort-me")
    await wait_for(lambda: engine.stats().running_rows == 0, timeout=5)
    result = await asyncio.wait_for(task, timeout=5)
    assert result[0]["tokens"] < 5000


async def test_the_hf_engine_is_an_engine_and_reports_its_load(engine):
    from cosmos_reason.engine.base import Engine, EngineStats

    assert isinstance(engine, Engine)
    assert engine.stats() == EngineStats()  # idle
    long_task = asyncio.ensure_future(collect(engine, "long", max_tokens=200, ignore_eos=True, n=2))
    await wait_for(lambda: engine.stats().running_rows == 2)
    assert engine.stats() == EngineStats(running_rows=2, running_requests=1, waiting_requests=0)
    assert [choice["tokens"] for choice in (await long_task).values()] == [200, 200]
    await wait_for(lambda: engine.stats() == EngineStats())
