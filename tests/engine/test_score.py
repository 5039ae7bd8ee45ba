from __future__ import annotations

import pytest
import torch

from cosmos_reason.engine.base import GenerationRequest, SamplingParams
from cosmos_reason.engine.hf.inputs import build_inputs

from .conftest import text_conversation


async def test_yes_no_logprobs_match_a_direct_forward_pass(engine, loaded):
    conversation = text_conversation("Does the video contain any anomalies? Answer Yes or No.")
    request = GenerationRequest("score", conversation, SamplingParams(max_tokens=1))
    scores = await engine.next_token_logprobs(request, ("Yes", "No"))
    inputs = build_inputs(loaded.processor, conversation, loaded.family)
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits[0, -1].float()
    tokenizer = loaded.processor.tokenizer
    yes, no = tokenizer.encode("Yes")[0], tokenizer.encode("No")[0]
    expected = torch.log_softmax(logits, -1)
    assert scores.logprobs["Yes"] == pytest.approx(float(expected[yes]), abs=1e-4)
    assert scores.logprobs["No"] == pytest.approx(float(expected[no]), abs=1e-4)
    two = torch.softmax(logits[[yes, no]], -1)
    p_yes = torch.softmax(torch.tensor([scores.logprobs["Yes"], scores.logprobs["No"]]), -1)
    assert p_yes.sum() == pytest.approx(1.0)
    assert p_yes[0] == pytest.approx(float(two[0]), abs=1e-5)
    assert scores.prompt_tokens == inputs["input_ids"].shape[1]
