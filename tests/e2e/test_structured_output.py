"""Structured output through the real server on the random demo checkpoint: its free text
is gibberish, so every answer that parses is the constraint's doing. All cases run at once,
with free requests among them, so constrained and free rows share the batch."""

from __future__ import annotations

import asyncio
import itertools
from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field

from tests.structured_cases import CASES, check, max_tokens

from .conftest import API_KEY, MODEL_NAME

pytestmark = pytest.mark.e2e
N = 4
SEED = 7


@pytest.fixture(scope="module")
def async_client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=300)


async def ask(client: openai.AsyncOpenAI, name: str | None, reasoning: bool, stream: bool) -> list[dict]:
    """Each choice's content, reasoning and finish reason, streamed or not."""
    fields, _ = CASES[name] if name else ({}, 0)
    extra = {**fields, "reasoning": reasoning}
    response_format = extra.pop("response_format", openai.NOT_GIVEN)
    common = dict(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Describe the scene."}],
        n=N,
        temperature=1.0,
        seed=SEED,  # reproducible draws (each choice its own, whatever else is batched): no run fails by chance
        max_tokens=max_tokens(name, reasoning) if name else 24,
        response_format=response_format,
        extra_body=extra,
    )
    if not stream:
        completion = await client.chat.completions.create(**common)
        return [
            {
                "content": c.message.content,
                "reasoning": c.message.model_extra.get("reasoning_content"),
                "finish": c.finish_reason,
            }
            for c in completion.choices
        ]
    choices = [{"content": "", "reasoning": "", "finish": None} for _ in range(N)]
    async for chunk in await client.chat.completions.create(**common, stream=True):
        for c in chunk.choices:
            choices[c.index]["content"] += c.delta.content or ""
            choices[c.index]["reasoning"] += (c.delta.model_extra or {}).get("reasoning_content") or ""
            choices[c.index]["finish"] = c.finish_reason or choices[c.index]["finish"]
    return choices


async def test_every_constrained_answer_parses_and_validates(async_client):
    matrix = list(itertools.product(CASES, (False, True), (False, True)))
    free = [ask(async_client, None, False, stream) for stream in (False, True)]
    results = await asyncio.gather(*(ask(async_client, *case) for case in matrix), *free)
    checked = 0
    for (name, reasoning, stream), choices in zip(matrix, results, strict=False):
        assert len(choices) == N
        for choice in choices:
            assert choice["finish"] == "stop", (name, reasoning, stream, choice)
            check(name, choice["content"])
            checked += 1
        if reasoning:
            assert any(choice["reasoning"] for choice in choices), (name, stream, choices)
            assert all("<" not in choice["content"] for choice in choices if name != "json")
    assert checked == len(matrix) * N == 48
    assert all(len(choices) == N for choices in results[len(matrix) :])


class Scene(BaseModel):
    weather: Literal["sunny", "rain", "snow"]
    count: int = Field(ge=0, le=9)
    actors: list[Literal["car", "person"]] = Field(max_length=2)


def test_openai_sdk_parse_returns_the_parsed_object(server):
    client = openai.OpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=300)
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    completion = parse(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Describe the scene."}],
        response_format=Scene,
        max_tokens=40,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Scene), completion
    assert completion.choices[0].finish_reason == "stop"


def test_a_bad_schema_is_a_400_naming_the_field(server):
    client = openai.OpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=60)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL_NAME,
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"guided_json": {"type": "array", "uniqueItems": True}},
        )
    assert "guided_json" in str(caught.value) and "uniqueItems" in str(caught.value)


@pytest.mark.parametrize("task", ["critic", "plausibility", "multiple_choice"])
async def test_recipes_with_a_fixed_answer_format_always_parse(server, task: str) -> None:
    """The recipe's own constraint, with its reasoning: on gibberish weights every answer still parses."""
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.recipes.recipe import parse_answer

    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=300)
    completion = await client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Look."}],
        n=3,
        temperature=1.0,
        seed=SEED,
        max_tokens=64,
        extra_body={"task": task},
    )
    recipe = REASON1.recipes[task]
    for choice in completion.choices:
        assert choice.finish_reason == "stop"
        assert "parse_error" not in parse_answer(recipe, choice.message.content), choice.message.content
        assert choice.message.model_extra.get("reasoning_content")  # the thinking stayed free
