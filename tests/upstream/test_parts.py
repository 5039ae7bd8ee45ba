"""The upstream engine's pure parts: the --upstream syntax, the request body, the media
forms, the stream reader and the score rule. The servers themselves are in test_servers.py."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cosmos_reason.engine.base import Conversation, ImageInput, SamplingParams, Text, TokenLogprob, Turn, VideoInput
from cosmos_reason.engine.upstream import media as upstream_media
from cosmos_reason.engine.upstream.errors import UpstreamError
from cosmos_reason.engine.upstream.pool import (
    Upstream,
    UpstreamSpec,
    check_models_response,
    env_proxy,
    parse_upstream,
)
from cosmos_reason.engine.upstream.wire import StreamReader, candidate_logprobs, chat_body, dropped_fields
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.media import upstream_video_fields
from cosmos_reason.media.video import DecodedVideo
from cosmos_reason.settings import Settings
from tests.media_factory import load_video, reason1_video

# ---------------------------------------------------------------------------- --upstream syntax


def test_upstream_url_carries_model_key_and_options():
    spec = parse_upstream(
        "http://vllm-0:8000/v1?model=nvidia/Cosmos-Reason1-7B&key_env=VLLM_KEY&frames=jpeg&timeout=30",
        {"VLLM_KEY": "s3cret"},
    )
    assert spec.base_url == "http://vllm-0:8000/v1"
    assert (spec.model, spec.api_key, spec.frames, spec.timeout, spec.api) == (
        "nvidia/Cosmos-Reason1-7B",
        "s3cret",
        "jpeg",
        30.0,
        "auto",
    )
    assert "s3cret" not in repr(spec)
    assert parse_upstream("https://h:9/", {}).base_url == "https://h:9/v1"
    assert parse_upstream("http://h/api/v1/?api=cosmos", {}).base_url == "http://h/api/v1"


@pytest.mark.parametrize(
    "text, message",
    [
        ("vllm-0:8000", "expected http(s)://host:port"),
        ("http://h?colour=red", "unknown option(s) colour"),
        ("http://h?api=grpc", "api must be one of"),
        ("http://h?frames=gif", "frames must be one of"),
        ("http://h?key_env=MISSING", "MISSING (key_env) is not set"),
        ("http://h?key=a&key_env=K", "not both"),
        ("http://h?timeout=0", "timeout must be a positive number"),
    ],
)
def test_bad_upstream_urls_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_upstream(text, {"K": "k"})


def test_settings_tie_upstreams_to_the_upstream_engine():
    with pytest.raises(ValueError, match="needs at least one --upstream"):
        Settings(engine="upstream")
    with pytest.raises(ValueError, match="only used with --engine upstream"):
        Settings(upstreams=("http://h",))
    assert Settings(engine="upstream", upstreams=("http://h",)).upstreams == ("http://h",)


def test_models_answer_picks_the_card_or_says_why_not():
    spec = UpstreamSpec("http://h/v1", model="b")
    body = {"data": [{"id": "a"}, {"id": "b", "owned_by": "vllm"}]}
    assert check_models_response(spec, 200, body) == {"id": "b", "owned_by": "vllm"}
    assert "does not serve model 'x'" in check_models_response(UpstreamSpec("http://h/v1", model="x"), 200, body)
    assert "API key" in check_models_response(spec, 401, None)
    assert check_models_response(UpstreamSpec("http://h/v1"), 200, body) == {"id": "a"}


@pytest.mark.parametrize(
    "owner, api", [("cosmos-reason", "cosmos"), ("vllm", "vllm"), ("sglang", "vllm"), ("local", "openai")]
)
def test_auto_api_follows_the_servers_own_name(owner, api):
    upstream = Upstream(UpstreamSpec("http://h/v1"), card={"id": "m", "owned_by": owner})
    assert upstream.api == api
    assert Upstream(UpstreamSpec("http://h/v1", api="cosmos"), card={"owned_by": "vllm"}).api == "cosmos"


def test_upstreams_go_through_the_environments_proxy_unless_no_proxy_names_them(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("http://vllm-0:8000/v1") is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "vllm-1,.cluster.local")
    assert env_proxy("http://vllm-0:8000/v1") == "http://proxy:3128"
    assert env_proxy("http://vllm-1:8000/v1") is None
    assert env_proxy("http://vllm-2.cluster.local:8000/v1") is None
    assert env_proxy("https://vllm-0:8000/v1") is None  # HTTPS_PROXY is not set


# ---------------------------------------------------------------------------- request body


def _video(frames: int = 4, fps: float = 4.0, height: int = 56, width: int = 84, seed: int = 0) -> DecodedVideo:
    pixels = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (frames, 3, height, width), dtype=np.uint8))
    return DecodedVideo(
        frames=pixels,
        frame_indices=tuple(range(0, 2 * frames, 2)),
        sample_fps=fps,
        fps=2 * fps,
        total_frames=2 * frames,
        clip_frames=2 * frames,
        duration=frames / fps,
        source_height=height,
        source_width=width,
    )


def _conversation(*parts) -> Conversation:
    return Conversation(
        (
            Turn("system", (Text("Be brief."),)),
            Turn("user", (*parts, Text("What happens?"))),
            Turn("assistant", (Text("A ball rolls."),)),
            Turn("user", (Text("Why?"),)),
        )
    )


def test_body_sends_our_sampling_and_asks_for_usage():
    sampling = SamplingParams(
        max_tokens=7,
        temperature=0.0,
        top_p=0.9,
        top_k=5,
        repetition_penalty=1.1,
        seed=3,
        stop=("END",),
        n=2,
        ignore_eos=True,
        logprobs=True,
        top_logprobs=4,
    )
    body = chat_body(_conversation(), sampling, "m", "vllm", REASON1)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What happens?"},
        {"role": "assistant", "content": "A ball rolls."},
        {"role": "user", "content": "Why?"},
    ]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    expected = {
        "model": "m",
        "max_tokens": 7,
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 5,
        "repetition_penalty": 1.1,
        "seed": 3,
        "stop": ["END"],
        "n": 2,
        "ignore_eos": True,
        "logprobs": True,
        "top_logprobs": 4,
    }
    assert {k: body[k] for k in expected} == expected
    assert "raw_output" not in body and "media_io_kwargs" not in body


def test_body_forwards_min_p_penalties_and_logit_bias():
    sampling = SamplingParams(
        max_tokens=7, min_p=0.05, presence_penalty=0.5, frequency_penalty=-0.25, logit_bias=((5, 2.0), (9, -100.0))
    )
    for api in ("vllm", "cosmos", "openai"):
        body = chat_body(_conversation(), sampling, "m", api, REASON1)
        assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, -0.25)
        assert body["logit_bias"] == {"5": 2.0, "9": -100.0}
        assert body.get("min_p") == (None if api == "openai" else 0.05)  # an extension: strict servers refuse it
    assert "min_p" in dropped_fields(sampling)
    # Zeros are sent too: left out, the upstream would fill in its own defaults (vLLM's from the
    # checkpoint's generation_config; a Reason2 server's presence_penalty 1.5 without reasoning).
    plain = chat_body(_conversation(), SamplingParams(max_tokens=7), "m", "vllm", REASON1)
    assert (plain["presence_penalty"], plain["frequency_penalty"], plain["min_p"], plain["top_k"]) == (0, 0, 0, -1)
    assert "logit_bias" not in plain
    strict = chat_body(_conversation(), SamplingParams(max_tokens=7), "m", "openai", REASON1)
    assert not {"presence_penalty", "frequency_penalty", "min_p", "top_k"} & set(strict)  # OpenAI's 0 by default


def test_our_own_server_is_asked_for_raw_text_without_a_second_instruction():
    body = chat_body(_conversation(), SamplingParams(max_tokens=3), None, "cosmos", REASON1)
    assert body["raw_output"] is True and body["reasoning"] is False and "model" not in body


def test_strict_openai_servers_get_standard_fields_only():
    sampling = SamplingParams(max_tokens=3, top_k=5, repetition_penalty=1.1, ignore_eos=True)
    body = chat_body(_conversation(), sampling, "m", "openai", REASON1)
    assert not {"top_k", "repetition_penalty", "ignore_eos", "raw_output"} & set(body)


def test_images_go_as_lossless_png_in_their_place():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    body = chat_body(_conversation(ImageInput(image)), SamplingParams(max_tokens=3), "m", "vllm", REASON1)
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    header, data = parts[0]["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))), np.asarray(image))


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
def test_vllm_gets_the_sampled_frames_and_their_rate(fmt):
    video = _video(frames=4, fps=2.5)
    body = chat_body(_conversation(VideoInput(video)), SamplingParams(max_tokens=3), "m", "vllm", REASON1, frames=fmt)
    url = body["messages"][1]["content"][0]["video_url"]["url"]
    header, data = url.split(",", 1)
    assert header == "data:video/jpeg;base64"  # vLLM's name for a list of frames, whatever their format
    frames = [np.asarray(Image.open(io.BytesIO(base64.b64decode(part)))) for part in data.split(",")]
    assert len(frames) == 4 and frames[0].shape == (56, 84, 3)
    expected = video.frames.permute(0, 2, 3, 1).numpy()
    if fmt != "jpeg":  # the lossless ones
        assert np.array_equal(np.stack(frames), expected)
    assert body["media_io_kwargs"] == {"video": {"num_frames": -1, "fps": 2.5}}
    assert body["mm_processor_kwargs"] == {"do_sample_frames": False}


def test_videos_at_different_rates_cannot_share_vllms_per_request_settings():
    with pytest.raises(ValueError, match="different frame rates"):
        upstream_video_fields([_video(fps=2.0), _video(fps=4.0)])


@pytest.mark.parametrize("fps", [4.0, 2.0, 1.6, 7.3, 1 / 3])
def test_our_own_server_decodes_the_forwarded_video_into_the_same_frames_and_rate(fps):
    video = _video(frames=6, fps=fps)
    part = upstream_media.cosmos_video_part(video)
    data = base64.b64decode(part["url"].split(",", 1)[1])
    options = reason1_video(nframes=part["nframes"], min_pixels=part["min_pixels"], max_pixels=part["max_pixels"])
    decoded = load_video(data, options)
    assert torch.equal(decoded.frames, video.frames)
    assert decoded.sample_fps == fps


# ---------------------------------------------------------------------------- stream reader


def _chunk(index, content=None, finish=None, logprobs=None):
    return {
        "choices": [
            {
                "index": index,
                "delta": {"content": content} if content is not None else {},
                "finish_reason": finish,
                **({"logprobs": logprobs} if logprobs else {}),
            }
        ]
    }


def test_last_deltas_wait_for_usage_and_carry_exact_counts():
    reader = StreamReader(n=2)
    out = reader.feed(_chunk(0, "a")) + reader.feed(_chunk(1, "b")) + reader.feed(_chunk(0, "c", "stop"))
    assert [(d.index, d.text, d.finish_reason) for d in out] == [(0, "a", None), (1, "b", None)]
    assert reader.feed(_chunk(1, "", "length")) == []
    final = reader.feed({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}})
    assert [(d.index, d.text, d.finish_reason, d.prompt_tokens) for d in final] == [
        (0, "c", "stop", 9),
        (1, "", "length", 9),
    ]
    assert sum(d.completion_tokens for d in final) == 5
    assert reader.finish("u") == []


def test_usage_in_the_finishing_chunk_is_read_too():
    reader = StreamReader(n=1)
    reader.feed(_chunk(0, "x"))
    event = _chunk(0, "", "length") | {"usage": {"prompt_tokens": 4, "completion_tokens": 2}}
    assert [(d.completion_tokens, d.prompt_tokens) for d in reader.feed(event)] == [(2, 4)]


def test_an_answer_cut_short_is_an_upstream_error():
    reader = StreamReader(n=2)
    reader.feed(_chunk(0, "x", "stop"))
    with pytest.raises(UpstreamError, match="before every choice finished"):
        reader.finish("http://u/v1")


def test_logprobs_are_read_from_the_chunks():
    entry = {
        "token": "Hi",
        "logprob": -0.5,
        "top_logprobs": [{"token": "Hi", "logprob": -0.5}, {"token": "Yo", "logprob": -1.5}],
    }
    (delta,) = StreamReader(n=1).feed(_chunk(0, "Hi", logprobs={"content": [entry]}))
    assert delta.logprobs == (TokenLogprob("Hi", -0.5, (("Hi", -0.5), ("Yo", -1.5))),)


# ---------------------------------------------------------------------------- score rule


def test_candidates_take_their_entry_or_first_token_or_the_bound():
    first = TokenLogprob("Yes", -0.2, (("Yes", -0.2), ("No", -1.9), ("Ma", -3.0), ("x", -7.0)))
    scores = candidate_logprobs(first, ("Yes", "No", "Maybe", "Never"))
    assert scores == {"Yes": -0.2, "No": -1.9, "Maybe": -3.0, "Never": -7.0}


# ---------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    "error, status, code",
    [
        ("client", 400, "upstream_rejected"),
        ("client413", 413, "upstream_rejected"),
        ("failed", 502, "upstream_error"),
        ("timeout", 504, "upstream_timeout"),
    ],
)
async def test_upstream_errors_keep_their_status_in_our_envelope(error, status, code):
    import httpx

    from cosmos_reason.engine.upstream.errors import UpstreamClientError, UpstreamTimeoutError
    from cosmos_reason.server.app import create_app
    from tests.fakes import ScriptedEngine

    fail = {
        "client": UpstreamClientError("messages[0]: the upstream says no"),
        "client413": UpstreamClientError("too big for the upstream", 413),
        "failed": UpstreamError("upstream server http://u/v1 failed before answering: ConnectError"),
        "timeout": UpstreamTimeoutError("upstream server http://u/v1 timed out: no answer within 2 s"),
    }[error]
    app = create_app(Settings(model="/ckpt", served_model_names=("m",)), ScriptedEngine(fail=fail))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for stream in (False, True):
            response = await client.post(
                "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "stream": stream}
            )
            assert response.status_code == status
            assert response.json()["error"]["code"] == code
            assert response.json()["error"]["message"] == str(fail)


def test_the_upstreams_vocabulary_size_comes_from_its_card():
    from cosmos_reason.engine.upstream.engine import UpstreamEngine
    from cosmos_reason.engine.upstream.pool import UpstreamPool

    pool = UpstreamPool([parse_upstream("http://u:8000")])
    engine = UpstreamEngine(pool)
    assert engine.info.vocab_size == 0  # unknown (vLLM's card): the upstream checks logit_bias itself
    pool.upstreams[0].card = {"id": "m", "max_model_len": 128000, "vocab_size": 151936}
    assert engine.info.vocab_size == 151936


def test_the_upstream_engine_is_an_engine_and_reports_its_load():
    from cosmos_reason.engine.base import Engine, EngineStats
    from cosmos_reason.engine.upstream.engine import UpstreamEngine
    from cosmos_reason.engine.upstream.pool import UpstreamPool

    engine = UpstreamEngine(UpstreamPool([parse_upstream("http://u:8000")]))
    assert isinstance(engine, Engine)
    assert engine.stats() == EngineStats()  # nothing in flight


def _encoder_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("upstream-media")]


async def test_the_engines_media_encoders_end_with_the_engine():
    """Frames sent to a vLLM upstream are encoded on threads the engine owns: after shutdown no
    encoder thread is left in the process (no module-level pool outliving its engine). The
    upstream is down here, and shutdown still returns (it hung in the probe loop's wait_for)."""
    from cosmos_reason.engine.base import GenerationRequest
    from cosmos_reason.engine.upstream.engine import UpstreamEngine
    from cosmos_reason.engine.upstream.pool import UpstreamPool
    from tests.media_server import closed_port

    engine = UpstreamEngine(UpstreamPool([parse_upstream(f"http://127.0.0.1:{closed_port()}?api=vllm")]))
    request = GenerationRequest("r1", _conversation(VideoInput(_video())), SamplingParams(max_tokens=3))
    with pytest.raises(UpstreamError):  # encoded first, then nobody answers
        async for _ in engine.generate(request):
            pass
    assert _encoder_threads()  # the frames were encoded on the engine's threads
    await engine.shutdown()
    assert _encoder_threads() == []
