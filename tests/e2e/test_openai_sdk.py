"""The real server on the demo checkpoint, driven by the openai SDK."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.media_factory import data_uri, png_bytes

from .conftest import API_KEY, MODEL_NAME

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=120)


def image_message(text: str = "What is in the picture?") -> list[dict]:
    # Labelled jpeg although it is a PNG, as the user guide does.
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_uri(png_bytes(), "image/jpeg")}},
                {"type": "text", "text": text},
            ],
        }
    ]


def test_models_lists_the_demo_and_says_it_is_random(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]
    card = models.data[0].model_dump()
    assert card["random_weights"] is True
    assert "RANDOM" in card["description"]


def test_image_chat_non_streaming(client):
    completion = client.chat.completions.create(model=MODEL_NAME, messages=image_message(), max_tokens=8)
    assert isinstance(completion, ChatCompletion)
    choice = completion.choices[0]
    assert choice.finish_reason in ("stop", "length")
    # 64x48 -> smart-resized to 56x56 -> 2x2 merged patches = 4 image tokens, plus the chat template's text.
    assert completion.usage.prompt_tokens > 4
    assert completion.usage.completion_tokens <= 8
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_greedy_stream_concatenates_to_the_non_streamed_answer(client):
    kwargs = dict(model=MODEL_NAME, messages=image_message(), max_tokens=24, temperature=0)
    whole = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.model_dump() == whole.usage.model_dump()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]


def test_max_tokens_gives_length(client):
    completion = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Count"}],
        max_tokens=3,
        temperature=0,
        extra_body={"repetition_penalty": 1.0},
    )
    # A random model rarely ends within 3 tokens; when it does, it says stop and uses fewer.
    usage = completion.usage.completion_tokens
    assert (completion.choices[0].finish_reason, usage) == ("length", 3) or (
        completion.choices[0].finish_reason == "stop" and usage <= 3
    )


def test_seeded_sampling_is_reproducible_and_n_gives_n_choices(client):
    kwargs = dict(model=MODEL_NAME, messages=[{"role": "user", "content": "Hi"}], max_tokens=12, seed=123, n=2)
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    assert len(first.choices) == 2
    assert [c.message.content for c in first.choices] == [c.message.content for c in second.choices]


def test_health_answers_while_a_long_generation_runs(server, client):
    import threading

    done = threading.Event()

    def long_request() -> None:
        client.chat.completions.create(
            model=MODEL_NAME,
            messages=[{"role": "user", "content": "Go"}],
            max_tokens=120,
            extra_body={"ignore_eos": True},
        )
        done.set()

    worker = threading.Thread(target=long_request)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert time.monotonic() - started < 1.0
    worker.join(timeout=300)


def test_bad_image_is_400_and_server_keeps_serving(client):
    bad = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGVsbG8="}},
                {"type": "text", "text": "?"},
            ],
        }
    ]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL_NAME, messages=bad, max_tokens=2)
    assert "messages[0].content[0].image_url" in str(err.value)
    assert client.chat.completions.create(model=MODEL_NAME, messages=image_message(), max_tokens=2).choices


def test_wrong_key_is_401(server):
    bad = openai.OpenAI(api_key="wrong", base_url=f"{server.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
