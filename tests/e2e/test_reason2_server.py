"""`cosmos-reason serve --model demo:reason2`: the real server process on the tiny Cosmos-Reason2
(Qwen3-VL) checkpoint does what the API does for Reason1: text, image and video chats, streamed
and not, with Reason2's format; videos from every source and several media in one message; `n`,
`stop`, `logprobs`; `/v1/score` (yes/no and critic); Reason2's task recipes. One server for the
session (conftest.py's reason2_server: its media folder is reachable over http and as file://)."""

from __future__ import annotations

import openai
import pytest

from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.reasoning.split import split_reasoning
from tests.media_factory import data_uri, mp4_bytes, png_bytes

pytestmark = pytest.mark.e2e

NAME = "cosmos-reason2-demo"
SUFFIX = REASON2.reasoning.instruction
QWEN3_THINK_IDS = {"<think>": 151667, "</think>": 151668}


@pytest.fixture(scope="module")
def server(reason2_server):
    return reason2_server


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


def prompt_tokens(model_dir, text: str, system: str | None = None) -> int:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    messages = [{"role": "system", "content": system}] if system else []
    prompt = processor.apply_chat_template(
        [*messages, {"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
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


# ---- media from every source, several in one message --------------------------------------


def chat(client, content: list[dict], **kwargs):
    kwargs.setdefault("max_tokens", 6)
    return client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": content}], temperature=0, **kwargs
    )


def test_a_video_by_http_url_data_uri_and_local_file_is_the_same_video(client, static_files):
    root, base = static_files
    clip = mp4_bytes(seconds=1.5, fps=8)
    (root / "r2_clip.mp4").write_bytes(clip)
    sources = {
        "http": f"{base}/r2_clip.mp4",
        "data": data_uri(clip, "video/mp4"),
        "file": (root / "r2_clip.mp4").as_uri(),
    }
    answers = {
        name: chat(client, [{"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": "What moves?"}])
        for name, url in sources.items()
    }
    seen = {(a.usage.prompt_tokens, a.choices[0].message.content) for a in answers.values()}
    assert len(seen) == 1, {name: (a.usage.prompt_tokens, a.choices[0].message.content) for name, a in answers.items()}
    text_only = chat(client, [{"type": "text", "text": "What moves?"}], max_tokens=1)
    assert answers["http"].usage.prompt_tokens > text_only.usage.prompt_tokens + 16  # the frames are in the prompt


def cost(client, content: list[dict]) -> int:
    return chat(client, content, max_tokens=1).usage.prompt_tokens


def test_two_images_and_a_video_in_one_message_each_cost_their_tokens(client, static_files):
    root, base = static_files
    (root / "r2_wide.png").write_bytes(png_bytes(96, 48, seed=3))
    parts = {
        "small": {"type": "image_url", "image_url": {"url": data_uri(png_bytes(64, 48, seed=1), "image/png")}},
        "wide": {"type": "image_url", "image_url": {"url": f"{base}/r2_wide.png"}},
        "video": {"type": "video_url", "video_url": {"url": data_uri(mp4_bytes(seconds=1.0, fps=8), "video/mp4")}},
    }
    question = {"type": "text", "text": "Compare them."}
    alone = cost(client, [question])
    each = {
        name: chat(client, [part, question], max_tokens=1).usage.prompt_tokens - alone for name, part in parts.items()
    }
    assert each["wide"] > each["small"] > 0 and each["video"] > 0
    together = chat(client, [*parts.values(), question], max_tokens=6)
    # Every item's visual tokens are in the prompt (a numbering such as "Picture 1:" may add a few).
    assert together.usage.prompt_tokens - alone >= sum(each.values())
    assert together.usage.completion_tokens > 0


# ---- sampling options ----------------------------------------------------------------------


def test_n_with_a_seed_gives_n_reproducible_choices(client):
    kwargs = dict(model=NAME, messages=TEXT, max_tokens=10, temperature=1.0, seed=1234, n=2)
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1]
    assert [c.message.content for c in first.choices] == [c.message.content for c in second.choices]
    assert first.choices[0].message.content != first.choices[1].message.content  # two draws, not one twice


def test_a_stop_string_cuts_the_answer_before_it(client):
    whole = client.chat.completions.create(model=NAME, messages=TEXT, max_tokens=16, temperature=0).choices[0]
    text = whole.message.content
    assert len(text) > 6, text
    stop = text[3:6]
    cut = client.chat.completions.create(model=NAME, messages=TEXT, max_tokens=16, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_logprobs_and_top_logprobs_of_a_greedy_answer(client):
    # Logprobs are the model's own (before penalties, as vLLM's default): without Reason2's default
    # presence_penalty (1.5 without reasoning) the greedy token is the most likely one.
    answer = client.chat.completions.create(
        model=NAME, messages=TEXT, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3, presence_penalty=0
    ).choices[0]
    tokens = answer.logprobs.content
    assert len(tokens) == 6 or answer.finish_reason == "stop"
    for token in tokens:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        best = token.top_logprobs[0]
        assert [t.logprob for t in token.top_logprobs] == sorted((t.logprob for t in token.top_logprobs), reverse=True)
        assert (best.token, best.logprob) == (token.token, pytest.approx(token.logprob, abs=1e-4))  # greedy
    assert b"".join(bytes(t.bytes) for t in tokens).decode("utf-8", "replace") == answer.message.content
    penalised = client.chat.completions.create(
        model=NAME, messages=TEXT, max_tokens=6, temperature=0, logprobs=True, top_logprobs=1
    ).choices[0]
    assert penalised.message.content != answer.message.content  # the card's presence penalty is applied
    assert [t.top_logprobs[0].token for t in penalised.logprobs.content[1:]] != [
        t.token for t in penalised.logprobs.content[1:]
    ]


# ---- reasoning: stream and not, with and without -----------------------------------------------


def streamed(client, **kwargs) -> tuple[str, str]:
    content, reasoning = "", ""
    for chunk in client.chat.completions.create(model=NAME, messages=TEXT, temperature=0, stream=True, **kwargs):
        for choice in chunk.choices:
            delta = choice.delta.model_dump()
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
    return reasoning, content


@pytest.mark.parametrize("reasoning", [False, True], ids=["without", "with"])
def test_the_stream_splits_as_the_whole_answer_does(client, reasoning):
    extra = {"reasoning": reasoning}
    whole = client.chat.completions.create(model=NAME, messages=TEXT, temperature=0, max_tokens=12, extra_body=extra)
    message = whole.choices[0].message.model_dump()
    assert streamed(client, max_tokens=12, extra_body=extra) == (
        message.get("reasoning_content") or "",
        message["content"],
    )


@pytest.mark.parametrize("tag", ["</think>", "<think>"], ids=["lone-close", "unclosed-open"])
def test_without_reasoning_a_stray_think_tag_never_takes_the_answer(client, tag):
    # The tiny model is nudged into writing one of Qwen3's think tags (then the default presence penalty
    # keeps it from repeating it): a request that did not ask for reasoning keeps all the text as its
    # content, streamed and not (vLLM's qwen3 parser would put it all into `reasoning`).
    bias = {str(QWEN3_THINK_IDS[tag]): 1.0}
    raw = (
        client.chat.completions.create(
            model=NAME, messages=TEXT, temperature=0, max_tokens=8, logit_bias=bias, extra_body={"raw_output": True}
        )
        .choices[0]
        .message.content
    )
    assert raw.count(tag) == 1 and len(raw.split(tag)[1].strip()) > 3, raw
    whole = client.chat.completions.create(model=NAME, messages=TEXT, temperature=0, max_tokens=8, logit_bias=bias)
    message = whole.choices[0].message.model_dump()
    assert message["content"] == raw.replace(tag, "").strip() and not message.get("reasoning_content")
    assert streamed(client, max_tokens=8, logit_bias=bias) == ("", message["content"])


# ---- score and task recipes ---------------------------------------------------------------------


def test_critic_score_samples_n_reviews_with_reason2s_critic_prompt(client, server):
    import httpx

    video = video_message()
    body = {"messages": video, "method": "critic", "n": 2, "max_tokens": 6, "seed": 7}
    response = httpx.post(f"{server.url}/v1/score", json=body, timeout=300)
    assert response.status_code == 200, response.text
    critic = response.json()["critic"]
    assert len(critic["samples"]) == 2
    clean = sum(1 for sample in critic["samples"] if sample.get("anomaly") is False)
    assert critic["score"] == clean / 2
    # The reviews were asked as the chat `critic` task asks: Reason2's critic text plus its suffix.
    task = client.chat.completions.create(
        model=NAME, messages=video, max_tokens=1, extra_body={"task": "critic", "n": 1}
    )
    assert response.json()["usage"]["prompt_tokens"] == task.usage.prompt_tokens


def test_reason2s_tasks_are_listed_applied_and_reason1_only_ones_refused(server, client, reason2_model_dir):
    import httpx

    from cosmos_reason.families.reason2.recipes import RECIPES_BY_NAME
    from cosmos_reason.recipes.recipe import QUESTION

    listed = httpx.get(f"{server.url}/v1/tasks", timeout=30).json()["data"]
    assert [task["name"] for task in listed] == list(RECIPES_BY_NAME)
    caption = RECIPES_BY_NAME["caption"]
    asked = client.chat.completions.create(
        model=NAME, messages=TEXT, max_tokens=1, temperature=0, extra_body={"task": "caption"}
    )
    text = caption.user_template.replace(QUESTION, "Does the ball fall?")
    assert asked.usage.prompt_tokens == prompt_tokens(reason2_model_dir, text, caption.system_prompt)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=NAME, messages=TEXT, max_tokens=1, extra_body={"task": "plausibility"})
    assert "plausibility" in str(refused.value) and "caption" in str(refused.value)


# ---- structured output --------------------------------------------------------------------------


async def structured(client: openai.AsyncOpenAI, case: str, reasoning: bool, stream: bool) -> list[dict]:
    """Each of two choices' content, reasoning and finish reason, streamed or not."""
    from tests.structured_cases import CASES, max_tokens

    fields = {**CASES[case][0], "reasoning": reasoning}
    response_format = fields.pop("response_format", openai.NOT_GIVEN)
    common = dict(
        model=NAME,
        messages=[{"role": "user", "content": "Describe the scene."}],
        n=2,
        temperature=1.0,
        seed=7,  # reproducible draws: no run fails by chance
        max_tokens=max_tokens(case, reasoning),
        response_format=response_format,
        extra_body=fields,
    )
    if not stream:
        completion = await client.chat.completions.create(**common)
        return [
            {
                "content": c.message.content,
                "reasoning": c.message.model_dump().get("reasoning_content") or "",
                "finish": c.finish_reason,
            }
            for c in completion.choices
        ]
    choices = [{"content": "", "reasoning": "", "finish": None} for _ in range(2)]
    async for chunk in await client.chat.completions.create(**common, stream=True):
        for c in chunk.choices:
            delta = c.delta.model_dump()
            choices[c.index]["content"] += delta.get("content") or ""
            choices[c.index]["reasoning"] += delta.get("reasoning_content") or ""
            choices[c.index]["finish"] = c.finish_reason or choices[c.index]["finish"]
    return choices


async def test_structured_output_parses_with_and_without_reasoning_streamed_and_not(server):
    # Reason2's think tags are single tokens of its tokenizer: with reasoning the grammar must name
    # them as tokens (a text-only frame made every such request a 500). All cases at once, batched.
    import asyncio
    import itertools

    from tests.structured_cases import CASES, check

    client = openai.AsyncOpenAI(api_key="none", base_url=f"{server.url}/v1", max_retries=0, timeout=300)
    matrix = list(itertools.product(CASES, (False, True), (False, True)))
    results = await asyncio.gather(*(structured(client, *case) for case in matrix))
    for (case, reasoning, stream), choices in zip(matrix, results, strict=True):
        for choice in choices:
            assert choice["finish"] == "stop", (case, reasoning, stream, choice)
            check(case, choice["content"])
            assert bool(choice["reasoning"]) == reasoning, (case, reasoning, stream, choice)
