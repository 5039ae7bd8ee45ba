"""Client mistakes get a 4xx in the OpenAI envelope naming the field; the server keeps serving."""

from __future__ import annotations

import base64

import pytest

from cosmos_reason.engine.base import EngineError, PromptTooLongError
from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

USER = [{"role": "user", "content": "Hi"}]


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


CASES = [
    ("not json", None, "JSON"),
    ("", None, "empty"),
    ({"messages": []}, "messages", "at least 1"),
    ({"model": MODEL}, "messages", "required"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "robot" if False else "user"),
    ({"messages": USER, "temperature": "hot"}, "temperature", "number"),
    ({"messages": USER, "temperature": 3}, "temperature", "2"),
    ({"messages": USER, "max_tokens": 0}, "max_tokens", "1"),
    ({"messages": USER, "seed": 2**64}, "seed", str(2**63 - 1)),
    ({"messages": USER, "seed": -(2**63) - 1}, "seed", str(-(2**63))),
    ({"messages": USER, "repetition_penalty": 1e-300}, "repetition_penalty", "0.01"),
    ({"messages": USER, "repetition_penalty": 0}, "repetition_penalty", "0.01"),
    ({"messages": USER, "presence_penalty": 2.5}, "presence_penalty", "2"),
    ({"messages": USER, "frequency_penalty": -3}, "frequency_penalty", "-2"),
    ({"messages": USER, "min_p": 1.5}, "min_p", "1"),
    ({"messages": USER, "top_p": 0}, "top_p", "0"),
    ({"messages": USER, "temperature": -0.1}, "temperature", "0"),
    ({"messages": USER, "n": 0}, "n", "1"),
    ({"messages": USER, "n": 99}, "n", "16"),
    ({"messages": USER, "stop": [""]}, "stop", "empty"),
    ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content[0]", "audio"),
    ({"messages": [{"role": "user", "content": [image_part("data:image/png;base64,!!!")]}]},
     "messages[0].content[0].image_url", "base64"),
    ({"messages": [{"role": "user", "content": [image_part("data:image/png;base64," + base64.b64encode(b"no image").decode())]}]},
     "messages[0].content[0].image_url", "image"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
    ([1, 2], None, "JSON object"),
]


@pytest.mark.parametrize("body,param,words", CASES)
async def test_client_mistakes_are_400_naming_the_field(client, body, param, words):
    if isinstance(body, (dict, list)):
        response = await client.post("/v1/chat/completions", json=body)
    else:
        response = await client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words.lower() in error["message"].lower()
    # ...and the next request is served normally.
    assert (await client.post("/v1/chat/completions", json={"messages": USER})).status_code == 200


async def test_unknown_model_is_404(client):
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4", "messages": USER})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"
    assert MODEL in response.json()["error"]["message"]


async def test_unknown_route_and_wrong_method_use_the_envelope(client):
    assert (await client.get("/nope")).json()["error"]["type"] == "not_found_error"
    response = await client.get("/v1/chat/completions")
    assert response.status_code == 405
    assert "error" in response.json()


async def test_method_name_in_any_case_is_accepted(client):
    # The guide's curl uses `-X Post`.
    response = await client.request("Post", "/v1/chat/completions", json={"messages": USER})
    assert response.status_code == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_too_long_is_400(stream):
    engine = ScriptedEngine(fail=PromptTooLongError(5000, 4096))
    async with make_client(engine) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER, "stream": stream})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "5000" in error["message"] and "4096" in error["message"]


async def test_engine_failure_is_500_in_the_envelope():
    async with make_client(ScriptedEngine(fail=EngineError("boom"))) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
