"""The hf engine on the tiny Cosmos-Reason2 (Qwen3-VL) checkpoint: every prefill path (whole,
batched, chunked) gives what transformers' own forward and generate give, deepstack included."""

from __future__ import annotations

import asyncio

import pytest
import torch

from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine
from cosmos_reason.engine.hf.inputs import build_inputs
from cosmos_reason.engine.hf.loading import load_model
from cosmos_reason.engine.hf.runner import ModelRunner

from .conftest import collect, text_conversation
from .test_batching import gradient_image

QUESTIONS = ["What is in the picture?", "hello", "Describe the robot arm, then the table.", "a b c"]


@pytest.fixture(scope="module")
def loaded(reason2_model_dir):
    return load_model(str(reason2_model_dir), device="cpu")


def image_for(index: int):
    return gradient_image(96 + 32 * index, 64) if index % 2 == 0 else None


def prompt_inputs(loaded, index: int):
    return build_inputs(loaded.processor, text_conversation(QUESTIONS[index], image_for(index)), loaded.family)


def generate(loaded, index: int, max_new_tokens: int) -> str:
    inputs = prompt_inputs(loaded, index)
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return loaded.processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def reference_logits(loaded, inputs) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(**inputs).logits[0, -1].float()


def test_each_prefill_path_gives_transformers_last_logits(loaded):
    runner = ModelRunner(loaded.model)
    batch = [prompt_inputs(loaded, i) for i in range(len(QUESTIONS))]
    expected = [reference_logits(loaded, inputs) for inputs in batch]
    for inputs, want in zip(batch, expected, strict=False):
        torch.testing.assert_close(runner.prefill(inputs).logits, want, rtol=1e-4, atol=1e-4)
        state = runner.start_prefill(inputs)
        logits = None
        while logits is None:
            logits = runner.prefill_chunk(state, 7)  # chunks that cut through the image's tokens
        torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)
    together = runner.prefill_batch(batch)
    for got, want in zip(together.logits, expected, strict=False):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_the_chunked_path_needs_the_deepstack_features(loaded):
    """Guards the test above: a chunked image prompt without its deepstack features (as the
    Qwen2.5-VL path runs it) gives other logits than transformers."""
    runner = ModelRunner(loaded.model)
    inputs = prompt_inputs(loaded, 0)
    state = runner.start_prefill(inputs)
    assert state.deepstack is not None and len(state.deepstack) == 2  # deepstack_visual_indexes [0, 1]
    state.deepstack = None
    logits = None
    while logits is None:
        logits = runner.prefill_chunk(state, 7)
    assert not torch.allclose(logits, reference_logits(loaded, inputs), atol=1e-3)


@pytest.mark.parametrize("prefill_budget", [8192, 16])
async def test_greedy_with_requests_in_flight_equals_generate(loaded, prefill_budget):
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=8, max_prefill_tokens=prefill_budget))
    try:
        outs = await asyncio.gather(
            *[
                collect(engine, QUESTIONS[i], image_for(i), max_tokens=12, repetition_penalty=1.0)
                for i in range(len(QUESTIONS))
            ]
        )
    finally:
        await engine.shutdown()
    for i, out in enumerate(outs):
        assert out[0]["text"] == generate(loaded, i, 12), QUESTIONS[i]
        assert out[0]["prompt_tokens"] == prompt_inputs(loaded, i)["input_ids"].shape[1]
