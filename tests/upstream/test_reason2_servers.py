"""`--engine upstream --family reason2` in front of our own server on the tiny Cosmos-Reason2
(`demo:reason2`) checkpoint, both real processes: everything the API does for Reason2 gives the
same answer, tokens and log-probabilities through the front as from the upstream itself, which
means the same prompt (videos with fps, nframes and a start/end span included: their
`<t seconds>` are part of the prompt and steer every logprob)."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from cosmos_reason.server.process import ServerProcess
from tests.media_factory import data_uri, mp4_bytes, png_bytes

from .conftest import FRONT_KEY, FRONT_MODEL, UPSTREAM_KEY, UPSTREAM_MAX_N, front_process, start_all

pytestmark = pytest.mark.e2e

DEMO = "cosmos-reason2-demo"
GREEDY = {"temperature": 0, "max_tokens": 10}
#: A 30 fps source, so the kept frames' times are not multiples of the sampled rate's period.
VIDEO = data_uri(mp4_bytes(seconds=4.0, fps=30, width=96, height=64), "video/mp4")
IMAGE = data_uri(png_bytes(96, 72, seed=7), "image/png")


@pytest.fixture(scope="module")
def pair(reason2_model_dir, demo_cache_dir):
    """(front, upstream): our server on demo:reason2, and a Reason2 front over it."""
    upstream = ServerProcess(
        ["--model", "demo:reason2", "--api-key", UPSTREAM_KEY, "--max-n", str(UPSTREAM_MAX_N)],
        env={"COSMOS_REASON_CACHE": str(demo_cache_dir)},
    )
    front = front_process([f"{upstream.url}?key_env=UPSTREAM_KEY"], "--family", "reason2")
    try:
        start_all(upstream, front)
        yield front, upstream
    finally:
        front.stop()
        upstream.stop()


def clients(pair) -> tuple[OpenAI, OpenAI]:
    front, upstream = pair
    return (
        OpenAI(api_key=FRONT_KEY, base_url=f"{front.url}/v1", max_retries=0, timeout=120),
        OpenAI(api_key=UPSTREAM_KEY, base_url=f"{upstream.url}/v1", max_retries=0, timeout=120),
    )


def both(pair, **kwargs):
    """The same request through the front and to the upstream directly."""
    ours, theirs = clients(pair)
    return ours.chat.completions.create(model=FRONT_MODEL, **kwargs), theirs.chat.completions.create(
        model=DEMO, **kwargs
    )


def answer(completion) -> list[tuple]:
    return [
        (c.message.content, (c.message.model_extra or {}).get("reasoning_content"), c.finish_reason)
        for c in completion.choices
    ]


def logprobs(completion) -> list:
    return [c.logprobs.model_dump() if c.logprobs else None for c in completion.choices]


def video(**options) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": VIDEO, **options}},
                {"type": "text", "text": "What happens, and when?"},
            ],
        }
    ]


def image(text: str = "What is in the picture?") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": IMAGE}}, {"type": "text", "text": text}],
        }
    ]


def test_the_front_reports_reason2_and_its_sampling_defaults(pair):
    cards = [
        httpx.get(f"{proc.url}/v1/models", headers={"authorization": key}).json()["data"][0]
        for proc, key in zip(pair, (FRONT_KEY, UPSTREAM_KEY), strict=True)
    ]
    for card in cards:
        assert card["family"] == "reason2"
        on, off = card["sampling_defaults"]["with_reasoning"], card["sampling_defaults"]["without_reasoning"]
        assert (on["temperature"], on["top_p"], on["top_k"], on["presence_penalty"]) == (0.6, 0.95, 20, 0.0)
        assert (off["temperature"], off["top_p"], off["top_k"], off["presence_penalty"]) == (0.7, 0.8, 20, 1.5)
    # --default-max-tokens wins over the card's 4096: the front's 16, the demo server's 256.
    assert [c["sampling_defaults"]["without_reasoning"]["max_tokens"] for c in cards] == [16, 256]


@pytest.mark.parametrize(
    "options",
    [{"fps": 4}, {"nframes": 6}, {"fps": 3, "video_start": 1.1, "video_end": 3.4}],
    ids=["fps", "nframes", "start-end"],
)
def test_a_video_gives_the_same_prompt_and_answer_both_ways(pair, options):
    ours, theirs = both(pair, messages=video(**options), logprobs=True, top_logprobs=3, **GREEDY)
    assert ours.usage.model_dump() == theirs.usage.model_dump()
    assert answer(ours) == answer(theirs)
    assert logprobs(ours) == logprobs(theirs)  # every position's distribution: the same prompt ids


def test_several_media_in_one_message_and_a_task_both_ways(pair):
    # Each video keeps its own timing (per part, unlike vLLM's per-request media_io_kwargs).
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": VIDEO, "fps": 4, "video_end": 2.0}},
                {"type": "image_url", "image_url": {"url": IMAGE}},
                {"type": "video_url", "video_url": {"url": VIDEO, "nframes": 4, "video_start": 1.5}},
                {"type": "text", "text": "Compare them."},
            ],
        }
    ]
    for extra in ({}, {"task": "caption"}):
        ours, theirs = both(pair, messages=messages, logprobs=True, extra_body=extra, **GREEDY)
        assert ours.usage.model_dump() == theirs.usage.model_dump()
        assert answer(ours) == answer(theirs) and logprobs(ours) == logprobs(theirs)


def test_a_video_streamed_through_the_front(pair):
    ours_client, theirs_client = clients(pair)
    messages = video(fps=2, video_start=0.5, video_end=3.5)
    theirs = theirs_client.chat.completions.create(model=DEMO, messages=messages, **GREEDY)
    text, usage = "", None
    for chunk in ours_client.chat.completions.create(
        model=FRONT_MODEL, messages=messages, stream=True, stream_options={"include_usage": True}, **GREEDY
    ):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text == theirs.choices[0].message.content
    assert usage.model_dump() == theirs.usage.model_dump()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_image_chat_streamed_and_not(pair, stream):
    ours_client, theirs_client = clients(pair)
    theirs = theirs_client.chat.completions.create(model=DEMO, messages=image(), **GREEDY)
    if not stream:
        ours = ours_client.chat.completions.create(model=FRONT_MODEL, messages=image(), **GREEDY)
        assert answer(ours) == answer(theirs) and ours.usage.model_dump() == theirs.usage.model_dump()
        return
    text, usage = "", None
    for chunk in ours_client.chat.completions.create(
        model=FRONT_MODEL, messages=image(), stream=True, stream_options={"include_usage": True}, **GREEDY
    ):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text == theirs.choices[0].message.content
    assert usage.model_dump() == theirs.usage.model_dump()


def test_n_stop_and_reasoning_both_ways(pair):
    kwargs = {"messages": image("Describe it."), "n": 2, "logprobs": True, "top_logprobs": 2, **GREEDY}
    ours, theirs = both(pair, **kwargs)
    assert len(ours.choices) == 2 and answer(ours) == answer(theirs) and logprobs(ours) == logprobs(theirs)
    stop = ours.choices[0].message.content[2:5]  # a piece of the greedy answer: it ends there
    cut, direct = both(pair, messages=image("Describe it."), stop=[stop], **GREEDY)
    assert answer(cut) == answer(direct)
    assert cut.choices[0].finish_reason == "stop" and stop not in cut.choices[0].message.content
    thought, direct = both(pair, messages=image(), extra_body={"reasoning": True}, **GREEDY)
    assert answer(thought) == answer(direct) and thought.usage.model_dump() == direct.usage.model_dump()


def test_presence_and_frequency_penalties_steer_sampling_and_the_defaults_apply(pair):
    # Sampled with a seed: the defaults of the mode (reasoning off: 0.7 / 0.8 / top_k 20 /
    # presence 1.5) are what a request without those fields gets, here and through the front.
    ours, theirs = clients(pair)
    base = {"messages": image("Count to ten."), "seed": 11, "max_tokens": 24, "extra_body": {"ignore_eos": True}}
    card = {"temperature": 0.7, "top_p": 0.8, "extra_body": {"ignore_eos": True, "top_k": 20}}
    plain = theirs.chat.completions.create(model=DEMO, **base).choices[0].message.content
    explicit = theirs.chat.completions.create(model=DEMO, **{**base, **card}, presence_penalty=1.5)
    without = theirs.chat.completions.create(model=DEMO, **{**base, **card}, presence_penalty=0.0)
    assert plain == explicit.choices[0].message.content != without.choices[0].message.content
    # The run without a presence penalty repeats tokens; a frequency penalty changes that run.
    penalised = {**base, **card, "presence_penalty": 0.0, "frequency_penalty": 1.5}
    frequent = theirs.chat.completions.create(model=DEMO, **penalised).choices[0].message.content
    assert frequent != without.choices[0].message.content
    through = ours.chat.completions.create(model=FRONT_MODEL, **base).choices[0].message.content
    assert through == plain  # the front fills in the same defaults and forwards them
    through = ours.chat.completions.create(model=FRONT_MODEL, **{**base, **card}, presence_penalty=0.0)
    assert through.choices[0].message.content == without.choices[0].message.content  # a 0 is sent too
    assert ours.chat.completions.create(model=FRONT_MODEL, **penalised).choices[0].message.content == frequent


def test_score_both_ways(pair):
    def score(proc, key, **fields):
        response = httpx.post(
            f"{proc.url}/v1/score",
            json={"messages": image("Is there a ball? Answer Yes or No."), **fields},
            headers={"authorization": key},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        return response.json()

    front, upstream = pair
    ours, theirs = score(front, FRONT_KEY), score(upstream, UPSTREAM_KEY)
    assert ours["usage"] == theirs["usage"]
    assert ours["yes_no"]["p_yes"] + ours["yes_no"]["p_no"] == pytest.approx(1.0)
    critic = score(front, FRONT_KEY, method="critic", n=UPSTREAM_MAX_N, max_tokens=8)["critic"]
    assert len(critic["samples"]) == UPSTREAM_MAX_N
