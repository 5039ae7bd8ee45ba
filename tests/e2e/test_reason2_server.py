"""`cosmos-reason serve --model demo:reason2`: the real server process on the tiny Cosmos-Reason2
(Qwen3-VL) checkpoint answers text and image chats, streamed and not, with Reason2's format."""

from __future__ import annotations

import openai
import pytest

from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.reasoning.split import split_reasoning
from cosmos_reason.server.process import ServerProcess
from tests.media_factory import data_uri, mp4_bytes, png_bytes

pytestmark = pytest.mark.e2e

NAME = "cosmos-reason2-demo"
SUFFIX = REASON2.reasoning.instruction


@pytest.fixture(scope="module")
def server(reason2_model_dir, demo_cache_dir):
    proc = ServerProcess(["--model", "demo:reason2"], env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(api_key="none", base_url=f"{server.url}/v1", max_retries=0, timeout=120)


def image_message(text: str = "What is in the picture?") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_uri(png_bytes(), "image/png")}},
                {"type": "text", "text": text},
            ],
        }
    ]


TEXT = [{"role": "user", "content": "Does the ball fall?"}]


def test_models_says_reason2(client):
    card = client.models.list().data[0].model_dump()
    assert card["id"] == NAME and card["family"] == "reason2" and card["random_weights"] is True


@pytest.mark.parametrize("messages", [TEXT, image_message()], ids=["text", "image"])
def test_chat_streamed_and_not_give_the_same_greedy_answer(client, messages):
    whole = client.chat.completions.create(model=NAME, messages=messages, max_tokens=12, temperature=0)
    assert whole.choices[0].finish_reason in ("length", "stop") and whole.usage.completion_tokens > 0
    text = ""
    for chunk in client.chat.completions.create(
        model=NAME, messages=messages, max_tokens=12, temperature=0, stream=True
    ):
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text == whole.choices[0].message.content


def test_an_image_costs_its_visual_tokens(client):
    question = [{"role": "user", "content": "What is in the picture?"}]
    plain = client.chat.completions.create(model=NAME, messages=question, max_tokens=1, temperature=0)
    image = client.chat.completions.create(model=NAME, messages=image_message(), max_tokens=1, temperature=0)
    assert image.usage.prompt_tokens - plain.usage.prompt_tokens > 3  # the vision wrapper plus its tokens


def prompt_tokens(model_dir, text: str) -> int:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    return len(processor.tokenizer(prompt)["input_ids"])


def test_reasoning_adds_the_user_suffix_and_the_split_is_reason2s(client, reason2_model_dir):
    plain = client.chat.completions.create(model=NAME, messages=TEXT, max_tokens=16, temperature=0)
    asked = client.chat.completions.create(
        model=NAME, messages=TEXT, max_tokens=16, temperature=0, extra_body={"reasoning": True}
    )
    raw = client.chat.completions.create(
        model=NAME, messages=TEXT, max_tokens=16, temperature=0, extra_body={"reasoning": True, "raw_output": True}
    )
    assert plain.usage.prompt_tokens == prompt_tokens(reason2_model_dir, "Does the ball fall?")
    with_suffix = prompt_tokens(reason2_model_dir, "Does the ball fall?\n\n" + SUFFIX)
    assert asked.usage.prompt_tokens == raw.usage.prompt_tokens == with_suffix
    message = asked.choices[0].message.model_dump()
    split = split_reasoning(raw.choices[0].message.content, REASON2.reasoning)
    assert (message.get("reasoning_content"), message["content"]) == (split.reasoning, split.content)


def video_message(**options) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {
                    "type": "video_url",
                    "video_url": {"url": data_uri(mp4_bytes(seconds=2.0, fps=10), "video/mp4"), **options},
                },
                {"type": "text", "text": "What happens?"},
            ],
        }
    ]


def test_a_video_chat_streamed_and_not_and_fewer_frames_cost_fewer_tokens(client):
    whole = client.chat.completions.create(model=NAME, messages=video_message(), max_tokens=8, temperature=0)
    text = ""
    for chunk in client.chat.completions.create(
        model=NAME, messages=video_message(), max_tokens=8, temperature=0, stream=True
    ):
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text == whole.choices[0].message.content and whole.usage.completion_tokens > 0
    fewer = client.chat.completions.create(model=NAME, messages=video_message(fps=2), max_tokens=1, temperature=0)
    assert 0 < fewer.usage.prompt_tokens < whole.usage.prompt_tokens


def test_yes_no_score_on_reason2(server):
    import httpx

    response = httpx.post(f"{server.url}/v1/score", json={"messages": TEXT}, timeout=120)
    assert response.status_code == 200, response.text
    yes_no = response.json()["yes_no"]
    assert abs(yes_no["p_yes"] + yes_no["p_no"] - 1.0) < 1e-6
