"""Cosmos-Reason2 as a family: chosen by qwen3_vl, its values, its user-placed reasoning
suffix, per-mode sampling and recipes, through the API with a scripted engine."""

from __future__ import annotations

import httpx
import openai
import pytest

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.families.reason2.constants import REASONING_PROMPT
from cosmos_reason.families.registry import default_family, family_for_model_type, family_named, get_task
from cosmos_reason.reasoning.split import split_reasoning
from cosmos_reason.recipes.recipe import parse_answer
from cosmos_reason.server.app import create_app
from cosmos_reason.settings import SamplingFlags, Settings
from tests.fakes import ScriptedEngine
from tests.media_factory import data_uri, png_bytes

MODEL = "test-model"
USER = [{"role": "user", "content": "Does it fall?"}]
# The cosmos-reason2 utils' REASONING_PROMPT, character for character.
SUFFIX = (
    "Answer the question using the following format:\n\n<think>\nYour reasoning.\n</think>\n\n"
    "Write your final answer immediately after the </think> tag."
)


def sdk_for(engine, **settings) -> openai.AsyncOpenAI:
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,), **settings), engine)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return openai.AsyncOpenAI(api_key="none", base_url="http://test/v1", http_client=http)


def test_qwen3_vl_checkpoints_are_reason2_and_reason1_stays_the_default() -> None:
    assert family_for_model_type("qwen3_vl") is REASON2 and family_named("reason2") is REASON2
    assert family_for_model_type("qwen2_5_vl") is REASON1 and default_family() is REASON1


def test_reason2_values() -> None:
    assert REASON2.model_class == "Qwen3VLForConditionalGeneration"
    assert REASON2.default_model == "nvidia/Cosmos-Reason2-8B"
    geometry = REASON2.geometry
    assert (geometry.patch_size, geometry.merge_size, geometry.temporal_patch_size) == (16, 2, 2)
    assert geometry.token_side == 32
    assert (REASON2.video.fps, REASON2.video.total_pixels) == (4.0, 8192 * 32 * 32)
    assert REASONING_PROMPT == SUFFIX
    fmt = REASON2.reasoning
    assert fmt.placement == "user" and fmt.answer_open is None and fmt.answer_start == "</think>"


def test_card_sampling_per_mode() -> None:
    on, off = REASON2.card_sampling(True), REASON2.card_sampling(False)
    assert (on.temperature, on.top_p, on.top_k, on.presence_penalty, on.max_tokens) == (0.6, 0.95, 20, 0.0, 4096)
    assert (off.temperature, off.top_p, off.top_k, off.presence_penalty, off.max_tokens) == (0.7, 0.8, 20, 1.5, 4096)
    assert REASON1.card_sampling(False) is REASON1.card_sampling(True) is REASON1.sampling


def test_output_splits_after_think_without_answer_tags() -> None:
    split = split_reasoning("<think>\nIt is heavy.\n</think>\n\nYes, it falls.", REASON2.reasoning)
    assert split == ("It is heavy.", "Yes, it falls.")
    assert split_reasoning("Yes, it falls.", REASON2.reasoning) == (None, "Yes, it falls.")


def test_recipes_use_reason2s_format_and_no_answer_tag() -> None:
    assert {"caption", "critic", "multiple_choice"} <= set(REASON2.recipes)
    for recipe in REASON2.recipes.values():
        assert recipe.format is REASON2.reasoning
        assert "<answer>" not in (recipe.system_prompt or "") + recipe.user_template
    choice = get_task("multiple_choice", REASON2)
    assert parse_answer(choice, "<think>\nThe cup tips.\n</think>\n\nB") == {"letter": "B"}
    with pytest.raises(KeyError, match="unknown task 'plausibility'"):
        get_task("plausibility", REASON2)


async def test_reasoning_true_appends_the_suffix_to_the_users_text_and_samples_for_reasoning() -> None:
    engine = ScriptedEngine(family=REASON2)
    await sdk_for(engine).chat.completions.create(model=MODEL, messages=USER, extra_body={"reasoning": True})
    request = engine.requests[-1]
    assert [turn.role for turn in request.conversation.turns] == ["user"]
    assert request.conversation.turns[0].text() == "Does it fall?\n\n" + SUFFIX
    sampling = request.sampling
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.presence_penalty) == (0.6, 0.95, 20, 0.0)


async def test_without_reasoning_no_suffix_and_the_plain_sampling() -> None:
    engine = ScriptedEngine(family=REASON2)
    await sdk_for(engine).chat.completions.create(model=MODEL, messages=USER)
    request = engine.requests[-1]
    assert request.conversation.turns[0].text() == "Does it fall?"
    sampling = request.sampling
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.presence_penalty) == (0.7, 0.8, 20, 1.5)
    assert sampling.max_tokens == 4096


async def test_request_and_server_flags_win_over_the_card() -> None:
    engine = ScriptedEngine(family=REASON2)
    sdk = sdk_for(engine, sampling=SamplingFlags(temperature=0.2))
    await sdk.chat.completions.create(model=MODEL, messages=USER, presence_penalty=0.0)
    sampling = engine.requests[-1].sampling
    assert (sampling.temperature, sampling.presence_penalty) == (0.2, 0.0)


async def test_a_reasoning_recipe_gets_the_reasoning_sampling_and_the_suffix() -> None:
    engine = ScriptedEngine(family=REASON2)
    await sdk_for(engine).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Which? (A) up (B) down"}],
        extra_body={"task": "multiple_choice"},
    )
    request = engine.requests[-1]
    system, user = request.conversation.turns
    assert system.text() == "You are a helpful assistant."
    assert user.text().endswith("Answer with the option's letter from the given choices.\n\n" + SUFFIX)
    assert request.sampling.temperature == 0.6


async def test_reason2_answer_split_in_the_api_and_the_stream() -> None:
    pieces = ["<thi", "nk>\nIt tips.\n</th", "ink>\n\n", "B"]
    sdk = sdk_for(ScriptedEngine(pieces, family=REASON2))
    message = (await sdk.chat.completions.create(model=MODEL, messages=USER)).choices[0].message.model_dump()
    assert (message["reasoning_content"], message["content"]) == ("It tips.", "B")
    reasoning, content = "", ""
    async for chunk in await sdk.chat.completions.create(model=MODEL, messages=USER, stream=True):
        for choice in chunk.choices:
            delta = choice.delta.model_dump()
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
    assert (reasoning, content) == ("It tips.", "B")


async def test_an_answer_without_think_stays_content() -> None:
    sdk = sdk_for(ScriptedEngine(["The ", "cup ", "falls."], family=REASON2))
    message = (await sdk.chat.completions.create(model=MODEL, messages=USER)).choices[0].message.model_dump()
    assert message["content"] == "The cup falls." and not message.get("reasoning_content")


async def test_models_says_the_family() -> None:
    for family in (REASON1, REASON2):
        app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,)), ScriptedEngine(family=family))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            card = (await http.get("/v1/models")).json()["data"][0]
        assert card["family"] == family.name


async def test_the_score_critic_uses_reason2s_critic_recipe() -> None:
    engine = ScriptedEngine(["<think>\nall fine\n</think>\n\nNo"], family=REASON2)
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,)), engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post("/v1/score", json={"messages": USER, "method": "critic", "n": 2})
    assert response.status_code == 200, response.text
    critic = response.json()["critic"]
    assert critic["score"] == 1.0 and [s["reasoning"] for s in critic["samples"]] == ["all fine", "all fine"]
    user = engine.requests[-1].conversation.turns[-1].text()
    assert user.endswith(SUFFIX) and "<answer>" not in user


async def test_the_suffix_follows_the_text_of_a_media_message_after_a_blank_line() -> None:
    """As the cosmos-reason2 utils build it: one text part, `question + "\\n\\n" + REASONING_PROMPT`."""
    engine = ScriptedEngine(family=REASON2)
    png = data_uri(png_bytes(), "image/png")
    messages = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": png}}, {"type": "text", "text": "What is it?"}],
        }
    ]
    await sdk_for(engine).chat.completions.create(model=MODEL, messages=messages, extra_body={"reasoning": True})
    texts = [part.text for part in engine.requests[-1].conversation.turns[-1].parts if hasattr(part, "text")]
    assert "".join(texts) == "What is it?\n\n" + SUFFIX
