"""Structured output through `--engine upstream` with our own servers as the upstreams: the
front forwards the constraint as the upstream's own field and the upstream enforces it, on the
answer only with reasoning; the front splits the raw text as usual."""

from __future__ import annotations

import asyncio
import itertools

import openai
import pytest

from tests.structured_cases import CASES, check, max_tokens

from .conftest import FRONT_KEY, FRONT_MODEL, UPSTREAM_MAX_N

pytestmark = pytest.mark.e2e


async def ask(front, name: str, reasoning: bool, stream: bool) -> list[tuple[str, str, str | None]]:
    client = openai.AsyncOpenAI(api_key=FRONT_KEY, base_url=f"{front.url}/v1", max_retries=0, timeout=300)
    fields = dict(CASES[name][0])
    response_format = fields.pop("response_format", openai.NOT_GIVEN)
    common = dict(
        model=FRONT_MODEL,
        messages=[{"role": "user", "content": "Describe the scene."}],
        n=UPSTREAM_MAX_N,
        temperature=1.0,
        seed=7,  # reproducible draws: no run fails by chance
        max_tokens=max_tokens(name, reasoning),
        response_format=response_format,
        extra_body={**fields, "reasoning": reasoning},
    )
    if not stream:
        completion = await client.chat.completions.create(**common)
        return [
            (c.message.content, c.finish_reason, c.message.model_extra.get("reasoning_content"))
            for c in completion.choices
        ]
    out = [["", None, ""] for _ in range(UPSTREAM_MAX_N)]
    async for chunk in await client.chat.completions.create(**common, stream=True):
        for c in chunk.choices:
            out[c.index][0] += c.delta.content or ""
            out[c.index][1] = c.finish_reason or out[c.index][1]
            out[c.index][2] += (c.delta.model_extra or {}).get("reasoning_content") or ""
    return [tuple(choice) for choice in out]


async def test_constrained_answers_through_the_front_all_validate(front):
    matrix = list(itertools.product(CASES, (False, True), (False, True)))
    results = await asyncio.gather(*(ask(front, *case) for case in matrix))
    for (name, reasoning, stream), choices in zip(matrix, results, strict=False):
        for content, finish, _ in choices:
            assert finish == "stop", (name, reasoning, stream, content)
            check(name, content)
        if reasoning:
            assert any(thinking for _, _, thinking in choices), (name, stream, choices)
