"""The chat API on the real demo checkpoint: request values the engine cannot take are
a 400 naming them, never a 500 (seed range, max_tokens beyond the context, logit_bias)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings

MODEL = "demo"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def client(engine):
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,)), engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def chat(client, **fields) -> httpx.Response:
    return await client.post("/v1/chat/completions", json={"messages": USER, "max_tokens": 2, **fields})


@pytest.mark.parametrize("seed", [2**64, 2**63, -(2**63) - 1])
async def test_seed_outside_64_bits_is_400(client, seed):
    response = await chat(client, seed=seed, temperature=1.0)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "seed"
    assert (await chat(client, seed=7, temperature=1.0)).status_code == 200


@pytest.mark.parametrize("seed", [2**63 - 1, -(2**63)])
async def test_seed_at_the_64_bit_limits_is_served_for_every_choice(client, seed):
    response = await chat(client, seed=seed, temperature=1.0, n=3)
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 3


async def test_a_conversation_of_system_messages_only_is_served(client):
    response = await client.post(
        "/v1/chat/completions", json={"messages": [{"role": "system", "content": "Say hello."}], "max_tokens": 3}
    )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] >= 1


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_beyond_the_context_is_400_with_the_numbers(client, engine, field, stream, monkeypatch):
    prompt = (await chat(client)).json()["usage"]["prompt_tokens"]
    context, room = prompt + 6, 6  # a small context, so that a wrong answer is quick too
    monkeypatch.setattr(engine, "_info", dataclasses.replace(engine.info, context_length=context))
    for asked in (room + 1, 10**9):
        body = {"messages": USER, field: asked, "stream": stream}
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == field and error["code"] == "context_length_exceeded"
        assert all(str(number) in error["message"] for number in (asked, prompt, context, room))
    response = await client.post("/v1/chat/completions", json={"messages": USER, field: room, "ignore_eos": True})
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] == room


async def test_without_max_tokens_the_default_is_cut_to_what_fits(client, engine, monkeypatch):
    monkeypatch.setattr(engine, "_info", dataclasses.replace(engine.info, context_length=24))
    response = await client.post("/v1/chat/completions", json={"messages": USER, "ignore_eos": True})
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage["total_tokens"] == 24 and response.json()["choices"][0]["finish_reason"] == "length"


async def test_logit_bias_ids_are_checked_against_the_checkpoints_vocabulary(client, loaded):
    vocab = loaded.model.config.get_text_config().vocab_size
    card = (await client.get("/v1/models")).json()["data"][0]
    assert card["vocab_size"] == vocab  # a front with --engine upstream reads it from here
    response = await chat(client, logit_bias={str(vocab): 5})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "logit_bias" and str(vocab - 1) in response.json()["error"]["message"]
    assert (await chat(client, logit_bias={str(vocab - 1): 5, "0": -100})).status_code == 200
