from __future__ import annotations

import math

import pytest

from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

MESSAGES = [{"role": "user", "content": "Is the motion physically plausible?"}]


async def test_yes_no_probabilities_are_the_softmax_over_the_two_answers(client, engine):
    response = await client.post("/v1/score", json={"model": MODEL, "messages": MESSAGES})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1.5))
    assert body["yes_no"]["p_yes"] == pytest.approx(expected)
    assert body["yes_no"]["p_yes"] + body["yes_no"]["p_no"] == pytest.approx(1.0)
    assert body["usage"]["prompt_tokens"] == 11 and "critic" not in body


async def test_critic_score_is_the_fraction_of_clean_samples():
    answers = ["<think>\nall fine\n</think>\n\n<answer>\nNo\n</answer>"]
    async with make_client(ScriptedEngine(answers)) as client:
        body = (await client.post("/v1/score", json={"messages": MESSAGES, "method": "critic", "n": 3})).json()
    critic = body["critic"]
    assert critic["score"] == 1.0
    assert [s["anomaly"] for s in critic["samples"]] == [False, False, False]
    assert critic["samples"][0]["reasoning"] == "all fine"


async def test_score_validation_errors_name_the_field(client):
    response = await client.post("/v1/score", json={"messages": MESSAGES, "method": "vibes"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "method"
