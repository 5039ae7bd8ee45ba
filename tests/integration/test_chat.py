"""The chat API in-process on a scripted engine, driven by the openai SDK."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings

from .conftest import MODEL

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def sdk(engine):
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,)), engine)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with openai.AsyncOpenAI(api_key="none", base_url="http://test/v1", http_client=http) as client:
        yield client


async def test_non_streaming_answer_and_usage(sdk, engine):
    completion = await sdk.chat.completions.create(model=MODEL, messages=USER)
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "Hello, world!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 15
    assert completion.model == MODEL


async def test_streaming_concatenates_to_the_answer_and_never_sends_none(sdk):
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert all(isinstance(c.choices[0].delta.content, str) for c in with_choices)
    assert "".join(c.choices[0].delta.content for c in with_choices) == "Hello, world!"
    finishes = [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


async def test_stream_ends_with_done(client):
    body = {"model": MODEL, "messages": USER, "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


async def test_events_ready_together_go_out_in_one_write(engine):
    """Role chunk with the first token's; the last token's with usage and [DONE]: one write
    (a syscall and a wakeup at both ends) per token, not per event. Driven as raw ASGI, the
    way uvicorn calls it, to see the body messages one by one."""
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,)), engine)
    body = json.dumps(
        {"model": MODEL, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    ).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    requests = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    writes = [m["body"].decode() for m in sent if m["type"] == "http.response.body" and m.get("body")]
    # The engine yields 5 deltas: "Hello", ",", " world", "!" and the (empty) finishing one.
    assert len(writes) == 5
    assert '"role":"assistant"' in writes[0] and '"content":"Hello"' in writes[0]
    assert '"content":"!"' in writes[3]
    assert writes[-1].count("data: ") == 3 and '"finish_reason":"stop"' in writes[-1]
    assert '"usage"' in writes[-1] and writes[-1].endswith("data: [DONE]\n\n")


async def test_max_tokens_cuts_with_length(sdk):
    completion = await sdk.chat.completions.create(model=MODEL, messages=USER, max_tokens=2)
    assert completion.choices[0].message.content == "Hello,"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 2


async def test_max_completion_tokens_is_honoured(sdk, engine):
    await sdk.chat.completions.create(model=MODEL, messages=USER, max_completion_tokens=3)
    assert engine.requests[-1].sampling.max_tokens == 3


async def test_stop_string_is_cut_and_not_returned(sdk):
    completion = await sdk.chat.completions.create(
        model=MODEL, messages=USER, stop=["world"], extra_body={"raw_output": True}
    )
    assert completion.choices[0].message.content == "Hello, "
    assert completion.choices[0].finish_reason == "stop"


async def test_n_choices(sdk):
    completion = await sdk.chat.completions.create(model=MODEL, messages=USER, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert all(c.message.content == "Hello, world!" for c in completion.choices)
    assert completion.usage.completion_tokens == 12


async def test_streaming_n_choices_each_finish_once(sdk):
    stream = await sdk.chat.completions.create(model=MODEL, messages=USER, n=2, stream=True)
    finishes: dict[int, list[str]] = {0: [], 1: []}
    text = {0: "", 1: ""}
    async for chunk in stream:
        for choice in chunk.choices:
            text[choice.index] += choice.delta.content
            if choice.finish_reason:
                finishes[choice.index].append(choice.finish_reason)
    assert finishes == {0: ["stop"], 1: ["stop"]}
    assert text == {0: "Hello, world!", 1: "Hello, world!"}


async def test_model_card_defaults_apply_and_request_overrides_win(sdk, engine):
    await sdk.chat.completions.create(model=MODEL, messages=USER)
    defaults = engine.requests[-1].sampling
    assert (defaults.temperature, defaults.top_p, defaults.repetition_penalty, defaults.max_tokens) == (
        0.6,
        0.95,
        1.05,
        4096,
    )
    await sdk.chat.completions.create(
        model=MODEL,
        messages=USER,
        temperature=0,
        top_p=0.5,
        seed=7,
        extra_body={"top_k": 20, "repetition_penalty": 1.2},
    )
    chosen = engine.requests[-1].sampling
    assert (chosen.temperature, chosen.top_p, chosen.top_k, chosen.repetition_penalty, chosen.seed) == (
        0.0,
        0.5,
        20,
        1.2,
        7,
    )


async def test_unknown_fields_are_accepted(client):
    body = {"model": MODEL, "messages": USER, "frequency_penalty": 0.1, "user": "abc", "logit_bias": {}}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200


async def test_missing_model_field_uses_the_served_model(client):
    response = await client.post("/v1/chat/completions", json={"messages": USER})
    assert response.status_code == 200
    assert response.json()["model"] == MODEL


async def test_conversation_reaches_engine_with_roles(sdk, engine):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "developer", "content": "Use English."},
        {"role": "user", "content": [{"type": "text", "text": "Again"}]},
    ]
    await sdk.chat.completions.create(model=MODEL, messages=messages)
    turns = engine.requests[-1].conversation.turns
    assert [t.role for t in turns] == ["system", "user", "assistant", "system", "user"]
    assert turns[-1].text() == "Again"


async def test_health_and_request_id(client):
    response = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/health")).headers["x-request-id"]) >= 16


async def test_streaming_n_choices_each_role_in_its_own_event(client):
    """vLLM and OpenAI send one choice per chunk: clients that read choices[0] see every role."""
    body = {"model": MODEL, "messages": USER, "n": 3, "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        events = [json.loads(line[6:]) async for line in response.aiter_lines() if line.startswith("data: {")]
    assert all(len(event["choices"]) == 1 for event in events)
    roles = [e["choices"][0]["index"] for e in events if e["choices"][0]["delta"].get("role") == "assistant"]
    assert roles == [0, 1, 2]


async def test_a_conversation_of_system_messages_only_is_served(sdk, engine):
    messages = [{"role": "system", "content": "Say hello."}, {"role": "developer", "content": "Be brief."}]
    completion = await sdk.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == "Hello, world!"
    assert [t.role for t in engine.requests[-1].conversation.turns] == ["system", "system"]


async def test_logit_bias_min_p_and_openai_penalties_reach_the_engine(sdk, engine):
    await sdk.chat.completions.create(
        model=MODEL,
        messages=USER,
        logit_bias={"7": -100, "5": 2.5},
        presence_penalty=0.5,
        frequency_penalty=-1.5,
        extra_body={"min_p": 0.1},
    )
    sampling = engine.requests[-1].sampling
    assert sampling.logit_bias == ((5, 2.5), (7, -100.0))
    assert (sampling.presence_penalty, sampling.frequency_penalty, sampling.min_p) == (0.5, -1.5, 0.1)
    await sdk.chat.completions.create(model=MODEL, messages=USER)
    sampling = engine.requests[-1].sampling
    assert (sampling.logit_bias, sampling.presence_penalty, sampling.frequency_penalty, sampling.min_p) == (
        (),
        0.0,
        0.0,
        0.0,
    )
