"""The reasoning split, the reasoning option and task recipes through the API."""

from __future__ import annotations

import httpx
import openai
import pytest

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.constants import REASONING_SYSTEM_PROMPT
from cosmos_reason.server.app import create_app
from cosmos_reason.settings import SamplingFlags, Settings
from tests.fakes import ScriptedEngine

from .conftest import MODEL

TASKS = REASON1.recipes

TAGGED = ["<th", "ink>\nThe ball ", "falls.\n</thi", "nk>\n\n<ans", "wer>\nYes", "\n</answer>"]
USER = [{"role": "user", "content": "Does it fall?"}]


def sdk_for(engine, **settings) -> openai.AsyncOpenAI:
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,), **settings), engine)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return openai.AsyncOpenAI(api_key="none", base_url="http://test/v1", http_client=http)


async def test_non_streaming_split_into_reasoning_and_content():
    completion = await sdk_for(ScriptedEngine(TAGGED)).chat.completions.create(model=MODEL, messages=USER)
    message = completion.choices[0].message.model_dump()
    assert message["content"] == "Yes"
    assert message["reasoning_content"] == "The ball falls."
    assert message["reasoning"] == "The ball falls."


async def test_streaming_split_with_tags_cut_across_chunks():
    stream = await sdk_for(ScriptedEngine(TAGGED)).chat.completions.create(model=MODEL, messages=USER, stream=True)
    reasoning, content = "", ""
    async for chunk in stream:
        for choice in chunk.choices:
            delta = choice.delta.model_dump()
            assert isinstance(delta["content"], str)
            content += delta["content"]
            reasoning += delta.get("reasoning_content") or ""
    assert (reasoning, content) == ("The ball falls.", "Yes")
    assert "<" not in reasoning + content


async def test_raw_output_keeps_the_tags():
    completion = await sdk_for(ScriptedEngine(TAGGED)).chat.completions.create(
        model=MODEL, messages=USER, extra_body={"raw_output": True}
    )
    assert completion.choices[0].message.content == "".join(TAGGED)


async def test_unclosed_think_is_returned_as_content():
    engine = ScriptedEngine(["<think>", "still thinking"])
    completion = await sdk_for(engine).chat.completions.create(model=MODEL, messages=USER)
    assert "still thinking" in completion.choices[0].message.content


async def test_reasoning_option_adds_the_model_card_instruction():
    engine = ScriptedEngine()
    await sdk_for(engine).chat.completions.create(model=MODEL, messages=USER, extra_body={"reasoning": True})
    first = engine.requests[-1].conversation.turns[0]
    assert first.role == "system" and first.text() == REASONING_SYSTEM_PROMPT
    await sdk_for(engine).chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be terse."}, *USER], extra_body={"reasoning": True}
    )
    first = engine.requests[-1].conversation.turns[0]
    assert first.text().startswith("Be terse.") and "<think>" in first.text()


async def test_server_default_reasoning_and_request_opt_out():
    engine = ScriptedEngine()
    sdk = sdk_for(engine, reasoning=True)
    await sdk.chat.completions.create(model=MODEL, messages=USER)
    assert "<think>" in engine.requests[-1].conversation.turns[0].text()
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"reasoning": False})
    assert engine.requests[-1].conversation.turns[0].role == "user"


async def test_task_sets_prompts_and_recommended_sampling_which_the_request_can_override():
    engine = ScriptedEngine()
    sdk = sdk_for(engine)
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "critic"})
    request = engine.requests[-1]
    assert request.sampling.n == 4 and request.sampling.top_k == 50
    assert request.conversation.turns[0].role == "system"
    assert request.conversation.turns[0].text() == TASKS["critic"].system_prompt
    await sdk.chat.completions.create(model=MODEL, messages=USER, n=1, temperature=0.1, extra_body={"task": "critic"})
    assert (engine.requests[-1].sampling.n, engine.requests[-1].sampling.temperature) == (1, 0.1)


SERVER_FLAGS = SamplingFlags(temperature=0.3, top_p=0.8, top_k=7, repetition_penalty=1.2, max_tokens=256)


def _sampling(request):
    s = request.sampling
    return {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "repetition_penalty": s.repetition_penalty,
        "max_tokens": s.max_tokens,
        "n": s.n,
    }


async def test_a_task_keeps_the_servers_default_flags_for_what_it_does_not_set():
    """Like `serve --default-max-tokens 256 --default-temperature 0.3 ...`: a caption request gets them."""
    engine = ScriptedEngine()
    await sdk_for(engine, sampling=SERVER_FLAGS).chat.completions.create(
        model=MODEL, messages=USER, extra_body={"task": "caption"}
    )
    assert _sampling(engine.requests[-1]) == {
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 7,
        "repetition_penalty": 1.2,
        "max_tokens": 256,
        "n": 1,
    }


async def test_a_tasks_own_values_win_over_the_servers_flags_and_the_requests_over_both():
    engine = ScriptedEngine()
    sdk = sdk_for(engine, sampling=SERVER_FLAGS)
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "critic"})
    critic = TASKS["critic"].sampling  # the authors' critic settings: n=4, top_k=50, temperature 0.6, ...
    assert _sampling(engine.requests[-1]) == {
        "temperature": critic.temperature,
        "top_p": critic.top_p,
        "top_k": 50,
        "repetition_penalty": critic.repetition_penalty,
        "max_tokens": 256,
        "n": 4,
    }
    await sdk.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=100, temperature=0.1, n=2, extra_body={"task": "critic", "top_k": 5}
    )
    assert _sampling(engine.requests[-1]) == {
        "temperature": 0.1,
        "top_p": critic.top_p,
        "top_k": 5,
        "repetition_penalty": critic.repetition_penalty,
        "max_tokens": 100,
        "n": 2,
    }
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "multiple_choice"})
    assert _sampling(engine.requests[-1]) == {
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 7,
        "repetition_penalty": 1.0,
        "max_tokens": 256,
        "n": 1,
    }


async def test_unknown_task_is_400_listing_the_valid_ones():
    with pytest.raises(openai.BadRequestError) as err:
        await sdk_for(ScriptedEngine()).chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "nope"})
    assert "critic" in str(err.value) and err.value.body["param"] == "task"


async def test_tasks_are_listed(client):
    data = (await client.get("/v1/tasks")).json()["data"]
    assert {t["name"] for t in data} == set(TASKS)
    assert all(t["title"] and t["description"] for t in data)


class LogprobsEngine(ScriptedEngine):
    """Each piece is one token, with its logprob, as the real engines report them."""

    async def _choice(self, index, request):
        from cosmos_reason.engine.base import Delta, TokenLogprob

        for count, piece in enumerate(self.pieces, start=1):
            last = count == len(self.pieces)
            yield Delta(index, piece, self.prompt_tokens, count, "stop" if last else None, (TokenLogprob(piece, -0.5),))


UNTAGGED = [" The", " cup", " is", " red", ".\n"]


@pytest.mark.parametrize("stream", [False, True])
async def test_without_tags_content_is_the_text_as_generated(stream):
    """Not stripped: the logprobs tokens concatenate to exactly the content."""
    sdk = sdk_for(LogprobsEngine(UNTAGGED))
    kwargs = {"model": MODEL, "messages": USER, "logprobs": True}
    if stream:
        content, tokens = "", ""
        async for chunk in await sdk.chat.completions.create(**kwargs, stream=True):
            for choice in chunk.choices:
                content += choice.delta.content
                tokens += "".join(t.token for t in (choice.logprobs.content if choice.logprobs else []))
    else:
        choice = (await sdk.chat.completions.create(**kwargs)).choices[0]
        content, tokens = choice.message.content, "".join(t.token for t in choice.logprobs.content)
    assert content == tokens == " The cup is red.\n"


async def test_reasoning_fields_are_null_not_missing_without_tags():
    """The README's example reads message.reasoning_content: it must exist when the model
    wrote no <think> (the openai SDK raises AttributeError for a missing field)."""
    sdk = sdk_for(ScriptedEngine(UNTAGGED))
    message = (await sdk.chat.completions.create(model=MODEL, messages=USER)).choices[0].message
    assert message.reasoning_content is None and message.reasoning is None
    stream = await sdk.chat.completions.create(model=MODEL, messages=USER, stream=True)
    deltas = [choice.delta async for chunk in stream for choice in chunk.choices]
    assert deltas and all(d.reasoning_content is None and d.reasoning is None for d in deltas)


@pytest.mark.parametrize("max_tokens,strict", [(None, False), (100, True)])
async def test_only_the_clients_max_tokens_is_strict_not_a_recipes(max_tokens, strict):
    """A recipe's (or the server's) max_tokens is a default, cut to what fits; the client's is checked."""
    engine = ScriptedEngine()
    await sdk_for(engine).chat.completions.create(
        model=MODEL, messages=USER, max_tokens=max_tokens, extra_body={"task": "caption"}
    )
    assert engine.requests[-1].sampling.strict_max_tokens is strict
    assert engine.requests[-1].sampling.max_tokens == (max_tokens or 4096)


async def test_a_task_with_a_machine_readable_answer_constrains_it_unless_the_request_says_otherwise():
    engine = ScriptedEngine()
    sdk = sdk_for(engine)
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "critic"})
    constraint = engine.requests[-1].sampling.constraint
    assert (constraint.kind, constraint.spec) == ("choice", '["Yes", "No"]')
    assert constraint.reasoning is REASON1.reasoning  # free thinking, then the answer tags hold Yes or No
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "temporal_caption"})
    constraint = engine.requests[-1].sampling.constraint
    assert constraint.kind == "json" and constraint.reasoning is None and constraint.schema["type"] == "array"
    await sdk.chat.completions.create(
        model=MODEL, messages=USER, response_format={"type": "text"}, extra_body={"task": "critic"}
    )
    assert engine.requests[-1].sampling.constraint is None  # free text asked for
    await sdk.chat.completions.create(
        model=MODEL, messages=USER, extra_body={"task": "critic", "guided_choice": ["Yes", "No", "Unsure"]}
    )
    assert engine.requests[-1].sampling.constraint.spec == '["Yes", "No", "Unsure"]'  # the request's own wins
    await sdk.chat.completions.create(model=MODEL, messages=USER, extra_body={"task": "caption"})
    assert engine.requests[-1].sampling.constraint is None  # a caption is free text
