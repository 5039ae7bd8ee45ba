from __future__ import annotations

import asyncio

import pytest

from cosmos_reason.engine.base import Conversation, GenerationRequest, ImageInput, SamplingParams, Text, Turn
from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine
from cosmos_reason.engine.hf.loading import load_model


@pytest.fixture(scope="session")
def loaded(demo_model_dir):
    return load_model(str(demo_model_dir))


@pytest.fixture
async def engine(loaded):
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=4))
    yield engine
    await engine.shutdown()


def text_conversation(question: str, image=None) -> Conversation:
    parts = ((ImageInput(image),) if image is not None else ()) + (Text(question),)
    return Conversation((Turn("user", parts),))


async def collect(engine, question: str, image=None, request_id: str | None = None, **sampling) -> dict:
    """Run one request; per choice: text, finish reason, completion tokens, logprobs."""
    params = SamplingParams(**{"max_tokens": 16, "temperature": 0.0, **sampling})
    request = GenerationRequest(request_id or question, text_conversation(question, image), params)
    out: dict[int, dict] = {}
    async for delta in engine.generate(request):
        choice = out.setdefault(delta.index, {"text": "", "finish": None, "tokens": 0, "logprobs": []})
        choice["text"] += delta.text
        choice["tokens"] = delta.completion_tokens
        choice["logprobs"] += list(delta.logprobs)
        choice["prompt_tokens"] = delta.prompt_tokens
        if delta.finish_reason:
            choice["finish"] = delta.finish_reason
    return out


async def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
