"""`--engine upstream` against real servers: our own server on the demo checkpoint as two
upstream processes, and our server in front of them, all driven over HTTP.

The test that kills an upstream runs last (it leaves one upstream dead for the session).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI

from cosmos_reason.engine.base import TokenLogprob
from cosmos_reason.engine.upstream.wire import candidate_logprobs
from tests.media_factory import data_uri, mp4_bytes, png_bytes

from .conftest import (
    FRONT_KEY,
    FRONT_MODEL,
    UPSTREAM_KEY,
    UPSTREAM_MAX_N,
    chat_requests,
    front_process,
    upstream_metric,
)

pytestmark = pytest.mark.e2e

DEMO = "cosmos-reason1-demo"
GREEDY = {"temperature": 0, "max_tokens": 12}
CONVERSATION = [
    {"role": "system", "content": "You are a careful physicist."},
    {"role": "user", "content": "A ball rolls off a table. What happens next?"},
    {"role": "assistant", "content": "It falls."},
    {"role": "user", "content": "Why?"},
]


def via_front(front) -> OpenAI:
    return OpenAI(api_key=FRONT_KEY, base_url=f"{front.url}/v1", max_retries=0, timeout=60)


def direct(upstream) -> OpenAI:
    return OpenAI(api_key=UPSTREAM_KEY, base_url=f"{upstream.url}/v1", max_retries=0, timeout=60)


def answer(completion) -> list[tuple]:
    return [
        (c.message.content, (c.message.model_extra or {}).get("reasoning_content"), c.finish_reason)
        for c in completion.choices
    ]


def wait_listening(proc, timeout: float = 60) -> None:
    """For a front whose /health is 503 on purpose: wait until it answers at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{proc.url}/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(proc.output())


# ---------------------------------------------------------------------------- what the front is


def test_front_keeps_our_auth_and_describes_the_upstream_model(front):
    assert httpx.get(f"{front.url}/v1/models").status_code == 401
    for header in (f"Bearer {FRONT_KEY}", FRONT_KEY):  # the SDK's form and the user guide's
        response = httpx.get(f"{front.url}/v1/models", headers={"authorization": header})
        assert response.status_code == 200
    card = response.json()["data"][0]
    assert card["id"] == FRONT_MODEL and card["random_weights"] is True
    assert "2 upstream server(s)" in card["description"]
    assert httpx.get(f"{front.url}/health").json() == {"status": "ok"}


def test_greedy_text_through_the_front_equals_calling_the_upstream(front, upstreams):
    ours = via_front(front).chat.completions.create(model=FRONT_MODEL, messages=CONVERSATION, **GREEDY)
    theirs = direct(upstreams[0]).chat.completions.create(model=DEMO, messages=CONVERSATION, **GREEDY)
    assert answer(ours) == answer(theirs)
    assert ours.usage.model_dump() == theirs.usage.model_dump()


@pytest.mark.parametrize("extra", [{"reasoning": True}, {"task": "caption"}, {"raw_output": True, "reasoning": True}])
def test_reasoning_instruction_tasks_and_split_stay_ours(front, upstreams, extra):
    # The front adds the instruction or recipe once and splits the raw text itself:
    # same prompt, same answer as the upstream doing all of it.
    messages = CONVERSATION[:2]
    ours = via_front(front).chat.completions.create(model=FRONT_MODEL, messages=messages, extra_body=extra, **GREEDY)
    theirs = direct(upstreams[1]).chat.completions.create(model=DEMO, messages=messages, extra_body=extra, **GREEDY)
    assert answer(ours) == answer(theirs)
    assert ours.usage.prompt_tokens == theirs.usage.prompt_tokens


def test_streaming_passes_through_chunk_by_chunk_with_exact_usage(front, upstreams):
    stream = via_front(front).chat.completions.create(
        model=FRONT_MODEL, messages=CONVERSATION, stream=True, stream_options={"include_usage": True}, **GREEDY
    )
    pieces, usage, arrivals = [], None, []
    for chunk in stream:
        arrivals.append(time.monotonic())
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    theirs = direct(upstreams[0]).chat.completions.create(model=DEMO, messages=CONVERSATION, **GREEDY)
    assert "".join(pieces) == theirs.choices[0].message.content
    assert len(pieces) >= 6  # token by token, not one blob at the end
    assert usage.model_dump() == theirs.usage.model_dump()


def test_requests_are_spread_over_both_upstreams(front, upstreams):
    before = [chat_requests(u) for u in upstreams]
    client = via_front(front)

    def one(i: int) -> None:
        client.chat.completions.create(
            model=FRONT_MODEL, messages=[{"role": "user", "content": f"count {i}"}], max_tokens=2
        )

    for i in range(4):  # one at a time: nobody is busy, so they alternate
        one(i)
    with ThreadPoolExecutor(4) as pool:  # at once: the least busy one gets the next
        list(pool.map(one, range(4, 12)))
    counts = [chat_requests(u) - b for u, b in zip(upstreams, before, strict=False)]
    assert sum(counts) == 12
    assert min(counts) >= 4, counts


# ---------------------------------------------------------------------------- media, logprobs, score


def test_images_and_videos_reach_the_upstream_as_the_same_pixels(front, upstreams):
    image = data_uri(png_bytes(200, 150, seed=3), "image/png")
    video = data_uri(mp4_bytes(3.0, 10, 320, 240), "video/mp4")
    cases = [
        ([{"type": "image_url", "image_url": {"url": image}}], {}),
        ([{"type": "video_url", "video_url": {"url": video, "fps": 4}}], {}),
        ([{"type": "video_url", "video_url": {"url": video}}], {"task": "plausibility"}),  # the recipe's 16 fps
    ]
    for parts, extra in cases:
        messages = [{"role": "user", "content": [*parts, {"type": "text", "text": "What moves?"}]}]
        kwargs = dict(messages=messages, logprobs=True, top_logprobs=3, extra_body=extra, **GREEDY)
        ours = via_front(front).chat.completions.create(model=FRONT_MODEL, **kwargs)
        theirs = direct(upstreams[0]).chat.completions.create(model=DEMO, **kwargs)
        assert answer(ours) == answer(theirs)
        assert ours.usage.model_dump() == theirs.usage.model_dump()  # same vision tokens
        assert ours.choices[0].logprobs.model_dump() == theirs.choices[0].logprobs.model_dump()


def test_n_choices_with_logprobs_and_exact_usage(front, upstreams):
    kwargs = {"messages": CONVERSATION, "n": 2, "logprobs": True, "top_logprobs": 2, "temperature": 0, "max_tokens": 6}
    ours = via_front(front).chat.completions.create(model=FRONT_MODEL, **kwargs)
    theirs = direct(upstreams[1]).chat.completions.create(model=DEMO, **kwargs)
    assert answer(ours) == answer(theirs)
    assert [c.logprobs.model_dump() for c in ours.choices] == [c.logprobs.model_dump() for c in theirs.choices]
    assert ours.usage.model_dump() == theirs.usage.model_dump()


def test_score_works_through_the_upstream(front, upstreams):
    image = data_uri(png_bytes(64, 64, seed=5), "image/png")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image}},
                {"type": "text", "text": "Is the ball falling? Answer Yes or No."},
            ],
        }
    ]

    def score(proc, key, **fields):
        response = httpx.post(
            f"{proc.url}/v1/score", json={"messages": messages, **fields}, headers={"authorization": key}, timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()

    ours = score(front, FRONT_KEY)
    theirs = score(upstreams[0], UPSTREAM_KEY)
    assert ours["usage"] == theirs["usage"]  # same prompt, same tokens
    # The documented rule, applied to what the upstream itself says about the first token.
    first = (
        direct(upstreams[0])
        .chat.completions.create(
            model=DEMO,
            messages=messages,
            max_tokens=1,
            temperature=0,
            logprobs=True,
            top_logprobs=20,
            extra_body={"repetition_penalty": 1.0},
        )
        .choices[0]
        .logprobs.content[0]
    )
    expected = candidate_logprobs(
        TokenLogprob(first.token, first.logprob, tuple((t.token, t.logprob) for t in first.top_logprobs)), ("Yes", "No")
    )
    assert ours["yes_no"]["logprob_yes"] == pytest.approx(expected["Yes"], abs=1e-5)
    assert ours["yes_no"]["logprob_no"] == pytest.approx(expected["No"], abs=1e-5)
    assert ours["yes_no"]["p_yes"] + ours["yes_no"]["p_no"] == pytest.approx(1.0)
    critic = score(front, FRONT_KEY, method="critic", n=UPSTREAM_MAX_N, max_tokens=8)["critic"]
    assert len(critic["samples"]) == UPSTREAM_MAX_N


# ---------------------------------------------------------------------------- errors


def test_an_upstream_4xx_comes_back_as_our_400_with_its_message(front):
    client = via_front(front)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model=FRONT_MODEL, messages=CONVERSATION, n=UPSTREAM_MAX_N + 1, stream=stream, max_tokens=4
            )
        error = caught.value.body
        assert f"n: at most {UPSTREAM_MAX_N} choices per request, got {UPSTREAM_MAX_N + 1}" in error["message"]
        assert error["code"] == "upstream_rejected"


def test_max_tokens_beyond_the_upstreams_context_is_our_400_with_its_numbers(front):
    client = via_front(front)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=FRONT_MODEL, messages=CONVERSATION, max_tokens=10**9, stream=stream)
        message = caught.value.body["message"]
        assert str(10**9) in message and "128000" in message  # the demo checkpoint's context


def test_a_client_going_away_cancels_the_upstream_generation(front, upstreams):
    body = {
        "model": FRONT_MODEL,
        "messages": [{"role": "user", "content": "go on"}],
        "max_tokens": 4000,
        "ignore_eos": True,
        "stream": True,
    }

    def generated() -> float:
        return sum(upstream_metric(u, "cosmos_reason_completion_tokens_total") for u in upstreams)

    def running() -> float:
        return sum(upstream_metric(u, "cosmos_reason_running_sequences") for u in upstreams)

    before = generated()
    with (
        httpx.Client(timeout=30, headers={"authorization": FRONT_KEY}) as client,
        client.stream("POST", f"{front.url}/v1/chat/completions", json=body) as response,
    ):
        lines = 0
        for line in response.iter_lines():
            lines += line.startswith("data:")
            if lines == 4:
                break
    deadline = time.monotonic() + 5
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running() == 0
    stopped_at = generated()
    time.sleep(0.5)
    assert generated() == stopped_at  # nothing runs on in the background
    assert stopped_at - before < 1000  # far from the 4000 tokens it would have run to


async def test_abort_by_request_id_stops_the_upstream_generation(upstreams):
    # The engine seam's abort(request_id), on an engine in this process over a real upstream.
    from cosmos_reason.engine.base import Conversation, GenerationRequest, SamplingParams, Text, Turn
    from cosmos_reason.engine.upstream.engine import UpstreamEngine
    from cosmos_reason.engine.upstream.pool import UpstreamPool, parse_upstream

    engine = UpstreamEngine(UpstreamPool([parse_upstream(f"{upstreams[0].url}?key_env=K", {"K": UPSTREAM_KEY})]))
    request = GenerationRequest(
        "abort-me",
        Conversation((Turn("user", (Text("go on"),)),)),
        SamplingParams(max_tokens=4000, ignore_eos=True, n=2),
    )
    deltas = []
    try:
        async for delta in engine.generate(request):
            deltas.append(delta)
            if len(deltas) == 4:
                await engine.abort("abort-me")
    finally:
        await engine.shutdown()
    finals = [d for d in deltas if d.finish_reason]
    assert sorted(d.index for d in finals) == [0, 1] and {d.finish_reason for d in finals} == {"abort"}
    assert len(deltas) < 100


@pytest.fixture(scope="module")
def side_fronts(upstreams):
    """Two more fronts, started together: one over nothing but closed ports, one over the
    first upstream with a 1.5 s timeout."""
    from .conftest import free_port

    dead = front_process([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}/v1"])
    impatient = front_process([f"{upstreams[0].url}?key_env=UPSTREAM_KEY&timeout=1.5"])
    try:
        wait_listening(dead)
        impatient.wait_ready()
        yield dead, impatient
    finally:
        dead.stop()
        impatient.stop()


def test_a_dead_only_pool_answers_502_at_once(side_fronts):
    proc = side_fronts[0]
    health = httpx.get(f"{proc.url}/health")
    assert health.status_code == 503 and "no upstream server is available" in health.json()["reason"]
    started = time.monotonic()
    response = httpx.post(
        f"{proc.url}/v1/chat/completions",
        headers={"authorization": FRONT_KEY},
        timeout=30,
        json={"messages": CONVERSATION, "stream": True},
    )
    assert time.monotonic() - started < 2
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and error["type"] == "server_error"
    assert "no upstream server is available (2 configured" in error["message"]
    assert "Cannot connect to host" in error["message"]  # why: the connection is refused


def test_a_silent_upstream_is_a_504_not_a_hang(side_fronts, upstreams):
    proc, silent = side_fronts[1], upstreams[0]
    os.kill(silent.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = httpx.post(
            f"{proc.url}/v1/chat/completions",
            headers={"authorization": FRONT_KEY},
            timeout=30,
            json={"messages": CONVERSATION, "max_tokens": 4},
        )
        elapsed = time.monotonic() - started
    finally:
        os.kill(silent.proc.pid, signal.SIGCONT)
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_timeout" and "no answer within 1.5 s" in error["message"]
    assert elapsed < 6


# ---------------------------------------------------------------------------- failover (last: kills an upstream)


def _stream_one(front_url: str, i: int) -> dict:
    """One streamed request; its outcome: ok, clean_error (our error envelope) or broken."""
    body = {
        "model": FRONT_MODEL,
        "messages": [{"role": "user", "content": f"story {i}"}],
        "max_tokens": 24,
        "ignore_eos": True,
        "stream": True,
    }
    record = {"i": i, "start": time.monotonic()}
    try:
        with httpx.stream(
            "POST", f"{front_url}/v1/chat/completions", json=body, timeout=60, headers={"authorization": FRONT_KEY}
        ) as response:
            if response.status_code != 200:
                error = json.loads(response.read())["error"]
                record.update(
                    outcome="clean_error", detail=f"{response.status_code} {error['code']}: {error['message']}"
                )
                return record
            events = [line[5:].strip() for line in response.iter_lines() if line.startswith("data:")]
        payloads = [json.loads(e) for e in events[:-1]]
        if events[-1] != "[DONE]":
            record.update(outcome="broken", detail="no [DONE]")
        elif any("error" in p for p in payloads):
            error = next(p["error"] for p in payloads if "error" in p)
            record.update(outcome="clean_error", detail=f"stream {error['code']}: {error['message']}")
        elif sum(1 for p in payloads for c in p["choices"] if c.get("finish_reason")) == 1:
            record.update(outcome="ok")
        else:
            record.update(outcome="broken", detail="no finish_reason")
    except Exception as exc:  # noqa: BLE001 - anything else is a broken answer
        record.update(outcome="broken", detail=repr(exc))
    finally:
        record["end"] = time.monotonic()  # however it ended: the test compares it with the kill
    return record


def test_killing_an_upstream_under_load(front, upstreams):
    victim = upstreams[1]
    killed_at: list[float] = []
    done = threading.Semaphore(0)

    def run(i: int) -> dict:
        record = _stream_one(front.url, i)
        done.release()
        return record

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(run, i) for i in range(20)]
        for _ in range(6):  # kill it while the 7th to 10th requests are in flight
            done.acquire()
        killed_at.append(time.monotonic())
        victim.proc.send_signal(signal.SIGKILL)
        records = [f.result() for f in futures]
    kill = killed_at[0]
    broken = [r for r in records if r["outcome"] == "broken"]
    errors = [r for r in records if r["outcome"] == "clean_error"]
    assert not broken, broken
    assert sum(1 for r in records if r["start"] < kill < r["end"]) >= 2  # there was something to lose
    assert all(r["outcome"] == "ok" for r in records if r["start"] > kill), records  # not in flight: all fine
    assert len(errors) <= 4, errors  # only those in flight on the victim, each with a clean error
    for r in errors:
        assert r["start"] < kill and "upstream" in r["detail"], r
    # The survivor takes everything now.
    after = via_front(front).chat.completions.create(model=FRONT_MODEL, messages=CONVERSATION, max_tokens=4)
    assert after.choices[0].finish_reason == "length"
