"""The chat API on the real demo checkpoint: request values the engine cannot take are
a 400 naming them, never a 500 (seed range, max_tokens beyond the context, logit_bias)."""

from __future__ import annotations

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
    response = await client.post("/v1/chat/completions", json={
        "messages": [{"role": "system", "content": "Say hello."}], "max_tokens": 3})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] >= 1
