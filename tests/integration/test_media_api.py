"""Media through the API: every source, every failure a 400 naming the part, limits,
the bounded pool, and the server still serving afterwards. Real media bytes, scripted engine."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import openai
import pytest
from PIL import Image

from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings
from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine
from tests.media.test_container import FORBIDDEN, secrets_nearby  # noqa: F401 - a fixture
from tests.media_factory import data_uri, flat_gray_jpeg, media_loader, mjpeg_mkv, mp4_bytes, png_bytes
from tests.media_server import PUBLIC_IP, FakeDNS, NatBackend, closed_port, serve_media

from .conftest import MODEL

PNG = png_bytes(84, 56)  # a size Reason1 (28-pixel tokens) keeps as it is
HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def mp4() -> bytes:
    return mp4_bytes(seconds=2.0, fps=8)


@pytest.fixture(scope="module")
def host(mp4):
    with serve_media({"/image.png": PNG, "/clip.mp4": mp4}) as media_host:
        yield media_host


def client_for(
    engine: ScriptedEngine, media: MediaSettings | None = None, loader: MediaLoader | None = None, **settings
) -> httpx.AsyncClient:
    media = media or MediaSettings()
    dns = FakeDNS({"public.example": [PUBLIC_IP], "localhost": ["127.0.0.1"]})
    loader = loader or media_loader(media, resolver=dns, network_backend=NatBackend())
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,), media=media, **settings), engine, loader)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def image(url: str, **extra) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def video(url: str, **extra) -> dict:
    return {"type": "video_url", "video_url": {"url": url, **extra}}


def ask(*parts: dict, before: list[dict] | None = None) -> dict:
    return {"messages": [*(before or []), {"role": "user", "content": [*parts, {"type": "text", "text": "What?"}]}]}


async def still_serving(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={"messages": HELLO})
    assert response.status_code == 200, response.text


async def assert_400(client, body, param: str, *words: str, status: int = 400) -> dict:
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["message"].startswith(f"{param}: "), error
    for word in words:
        assert word.lower() in error["message"].lower(), error
    await still_serving(client)
    return error


# ---- bad payloads are 400s naming messages[i].content[j] -------------------------------------

EARLIER = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def unknown_codec(data: bytes) -> bytes:
    entry = data.index(b"avc1", data.index(b"stsd"))
    return data[:entry] + b"zzz9" + data[entry + 4 :]


@pytest.mark.parametrize(
    "make,kind,words",
    [
        (lambda mp4: b"", "image_url", ["empty"]),
        (lambda mp4: b"", "video_url", ["empty"]),
        (lambda mp4: b"hello, I am plain text" * 20, "image_url", ["not a recognized image"]),
        (lambda mp4: b"hello, I am plain text" * 20, "video_url", ["not a recognized video"]),
        (lambda mp4: truncated(PNG), "image_url", ["truncated"]),
        (lambda mp4: truncated(mp4), "video_url", ["video"]),
        (lambda mp4: unknown_codec(mp4), "video_url", ["codec is not supported"]),
        (lambda mp4: PNG, "video_url", ["video"]),
    ],
)
async def test_bad_media_is_a_400_naming_the_part(mp4, make, kind, words):
    payload = make(mp4)
    url = data_uri(payload, "application/octet-stream")
    part = image(url) if kind == "image_url" else video(url)
    body = ask(image(data_uri(PNG, "image/png")), part, before=EARLIER)
    async with client_for(ScriptedEngine()) as client:
        await assert_400(client, body, f"messages[2].content[1].{kind}", *words)


async def test_good_media_from_every_inline_shape_reaches_the_engine(mp4):
    engine = ScriptedEngine()
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": data_uri(PNG, "image/jpeg")}]},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [
                    video(data_uri(mp4, "video/mp4")),
                    image(data_uri(PNG, "image/png")),
                    {"type": "text", "text": "and these?"},
                ],
            },
        ]
    }
    async with client_for(engine) as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    conversation = engine.requests[-1].conversation
    assert [i.size for i in conversation.images()] == [(84, 56), (84, 56)]
    assert len(conversation.videos()) == 1 and conversation.videos()[0].num_frames == 8


# ---- URLs --------------------------------------------------------------------------------------


async def test_loopback_urls_are_refused_by_default_and_allowed_by_the_flag(host):
    async with client_for(ScriptedEngine()) as client:
        await assert_400(
            client,
            ask(image(host.url("/image.png"))),
            "messages[0].content[0].image_url",
            "loopback",
            "--allow-private-media-urls",
        )
        await assert_400(
            client, ask(video(host.url("/clip.mp4", host="localhost"))), "messages[0].content[0].video_url", "loopback"
        )
    engine = ScriptedEngine()
    async with client_for(engine, MediaSettings(allow_private_media_urls=True)) as client:
        body = ask(image(host.url("/image.png")), video(host.url("/clip.mp4", host="localhost")))
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
    conversation = engine.requests[-1].conversation
    assert conversation.images()[0].size == (84, 56) and conversation.videos()[0].num_frames == 8


async def test_redirect_to_a_private_address_is_a_400(host):
    async with client_for(ScriptedEngine()) as client:
        url = host.url("/redirect?to=" + host.url("/image.png"), host="public.example")
        await assert_400(client, ask(image(url)), "messages[0].content[0].image_url", "redirect 1", "loopback")


@pytest.mark.parametrize(
    "url,media,words",
    [
        ("http://nowhere.invalid/x.png", {}, ["could not resolve host"]),
        ("http://public.example:{port}/missing.png", {}, ["HTTP 404"]),
        ("http://public.example:{port}/slow?s=3", {"image_fetch_timeout": 0.3}, ["longer than 0.3 s"]),
        ("http://127.0.0.1:{closed}/x.png", {"allow_private_media_urls": True}, ["connection refused", "could not"]),
        ("http://metadata.google.internal/computeMetadata/v1/", {"allow_private_media_urls": True}, ["metadata"]),
        (
            "http://public.example:{port}/image.png",
            {"allowed_media_domains": ("cdn.example.org",)},
            ["allowed media domains"],
        ),
        ("ftp://public.example/x.png", {}, ["unsupported media url scheme"]),
        ("just-a-name.png", {}, ["data:"]),
    ],
)
async def test_url_failures_are_400s_never_500s_or_hangs(host, url, media, words):
    url = url.format(port=host.port, closed=closed_port())
    async with client_for(ScriptedEngine(), MediaSettings(**media)) as client:
        response = await asyncio.wait_for(client.post("/v1/chat/completions", json=ask(image(url))), 10)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "messages[0].content[0].image_url"
        assert any(w.lower() in error["message"].lower() for w in words), error
        await still_serving(client)


async def test_file_urls_need_an_allowed_root(tmp_path, mp4):
    (tmp_path / "clip.mp4").write_bytes(mp4)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes(PNG)
    (tmp_path / "link.png").symlink_to(outside)
    async with client_for(ScriptedEngine()) as client:
        await assert_400(
            client,
            ask(video(f"file://{tmp_path}/clip.mp4")),
            "messages[0].content[0].video_url",
            "--allowed-local-media-path",
        )
    engine = ScriptedEngine()
    async with client_for(engine, MediaSettings(allowed_local_media_paths=(str(tmp_path),))) as client:
        response = await client.post("/v1/chat/completions", json=ask(video(f"file://{tmp_path}/clip.mp4")))
        assert response.status_code == 200, response.text
        assert engine.requests[-1].conversation.videos()[0].num_frames == 8
        await assert_400(
            client, ask(image(f"file://{tmp_path}/link.png")), "messages[0].content[0].image_url", "outside"
        )
        await assert_400(
            client, ask(image(f"file://{tmp_path}/../{outside.name}")), "messages[0].content[0].image_url", "outside"
        )


# ---- request limits ----------------------------------------------------------------------------


async def test_too_many_media_items_is_a_400_naming_the_first_extra():
    uri = data_uri(PNG, "image/png")
    body = {
        "messages": [
            {"role": "user", "content": [image(uri), image(uri)]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "x"}, image(uri), image(uri)]},
        ]
    }
    async with client_for(ScriptedEngine(), MediaSettings(max_media_per_request=3)) as client:
        error = await assert_400(client, body, "messages[2].content[2]", "at most 3", "--max-media-per-request")
        assert "too many" in error["message"]
        body["messages"][2]["content"].pop()
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200


async def test_a_body_over_the_limit_is_a_413_before_it_is_read():
    limit = 64 * 1024
    async with client_for(ScriptedEngine(), MediaSettings(max_request_bytes=limit)) as client:
        big = json.dumps(ask(image(data_uri(b"\0" * limit, "image/png")))).encode()
        response = await client.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert "--max-request-bytes" in response.json()["error"]["message"]

        # without Content-Length (chunked): counted while it streams, stopped at the limit
        sent = 0

        async def chunks():
            nonlocal sent
            for start in range(0, len(big), 8192):
                sent += 8192
                yield big[start : start + 8192]

        response = await client.post(
            "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "65536 bytes" in response.json()["error"]["message"]
        assert sent < len(big)  # the rest was never read
        await still_serving(client)
        small = ask(image(data_uri(PNG, "image/png")))
        assert (await client.post("/v1/chat/completions", json=small)).status_code == 200


def test_the_default_body_limit_fits_a_base64_minute_of_1080p():
    # A 60-second 1080p H.264 clip at a typical 6 Mbit/s is 45 MB; as base64 in JSON about 60 MB.
    clip = 60 * 6_000_000 // 8
    assert MediaSettings().max_request_bytes >= clip * 4 // 3 + 64 * 1024


# ---- options, pool, cache ------------------------------------------------------------------------


async def test_media_options_from_the_openai_sdk_extra_body(mp4):
    engine = ScriptedEngine()
    async with client_for(engine) as http:
        sdk = openai.AsyncOpenAI(api_key="none", base_url="http://test/v1", http_client=http)
        messages = [
            {"role": "user", "content": [video(data_uri(mp4, "video/mp4")), {"type": "text", "text": "What happens?"}]}
        ]
        await sdk.chat.completions.create(model=MODEL, messages=messages, extra_body={"media_options": {"fps": 2}})
        assert engine.requests[-1].conversation.videos()[0].num_frames == 4
        messages[0]["content"][0] = video(data_uri(mp4, "video/mp4"), fps=4)  # the part's own option wins
        await sdk.chat.completions.create(model=MODEL, messages=messages, extra_body={"media_options": {"fps": 2}})
        assert engine.requests[-1].conversation.videos()[0].num_frames == 8


async def test_server_wide_video_defaults_apply(mp4):
    from cosmos_reason.media.options import MediaOptions

    engine = ScriptedEngine()  # the --video-fps flag: 2 instead of the family's 4
    async with client_for(engine, MediaSettings(video=MediaOptions(fps=2.0))) as client:
        response = await client.post("/v1/chat/completions", json=ask(video(data_uri(mp4, "video/mp4"))))
        assert response.status_code == 200
    assert engine.requests[-1].conversation.videos()[0].num_frames == 4


async def test_ten_videos_at_once_slow_down_not_crash():
    engine = ScriptedEngine()
    clips = [mp4_bytes(seconds=1.0, fps=4 + i) for i in range(10)]
    async with client_for(engine, MediaSettings(media_workers=1, media_cache_bytes=0)) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=ask(video(data_uri(c, "video/mp4")))) for c in clips)
        )
        assert [r.status_code for r in responses] == [200] * 10
        await still_serving(client)


async def test_a_repeat_question_uses_the_cache(mp4):
    engine = ScriptedEngine()
    async with client_for(engine) as client:
        body = ask(video(data_uri(mp4, "video/mp4")))
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    first, second = (r.conversation.videos()[0] for r in engine.requests[-2:])
    assert first is second


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,iVBO\u00fcRw0KGgo=",
        "https://xn--/x.png",
        "http://1.2.3.4:99999/x.png",
        "http://[::1/x.png",
    ],
)
async def test_malformed_urls_are_400s(url):
    async with client_for(ScriptedEngine()) as client:
        body = json.dumps(ask(image(url)), ensure_ascii=True)
        response = await client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "messages[0].content[0].image_url"
        await still_serving(client)


# ---- containers: only allowlisted ones, nothing outside the bytes sent (tests/media/test_container.py) -------


@pytest.mark.parametrize("name", FORBIDDEN)
async def test_a_video_naming_local_files_is_a_400_on_chat_and_score(name, secrets_nearby):  # noqa: F811 - the fixture
    engine = ScriptedEngine()
    body = ask(video(data_uri(FORBIDDEN[name], "video/mp4")))
    async with client_for(engine) as client:
        await assert_400(client, body, "messages[0].content[0].video_url", "containers accepted are MP4")
        response = await client.post("/v1/score", json=body)
        assert response.status_code == 400, response.text
        assert "containers accepted are" in response.json()["error"]["message"]
    assert not any(r.conversation.videos() for r in engine.requests)  # no frame of any file reached the model


async def test_a_forbidden_container_is_refused_from_http_and_file_urls_too(secrets_nearby):  # noqa: F811 - the fixture
    (secrets_nearby / "playlist.mp4").write_bytes(FORBIDDEN["ffconcat"])
    settings = MediaSettings(allow_private_media_urls=True, allowed_local_media_paths=(str(secrets_nearby),))
    with serve_media({"/playlist.mp4": FORBIDDEN["ffconcat"]}) as media_host:
        async with client_for(ScriptedEngine(), settings) as client:
            for url in (media_host.url("/playlist.mp4"), f"file://{secrets_nearby}/playlist.mp4"):
                await assert_400(
                    client, ask(video(url)), "messages[0].content[0].video_url", "not a recognized video format"
                )


# ---- sizes checked before pixels cost memory (tests/media/*/test_size_limits.py, test_image.py)


async def test_huge_video_frames_are_a_400_before_decoding():
    clip = mjpeg_mkv(flat_gray_jpeg(16000, 16000), declared=(16000, 16000))  # 2 MB, 512 MB a frame decoded
    async with client_for(ScriptedEngine()) as client:
        await assert_400(
            client,
            ask(video(data_uri(clip, "video/x-matroska"))),
            "messages[0].content[0].video_url",
            "more than the 89478485",
        )
    small = mjpeg_mkv(flat_gray_jpeg(2000, 2000), declared=(2000, 2000))  # the server's own bound applies
    async with client_for(ScriptedEngine(), MediaSettings(max_image_pixels=1_000_000)) as client:
        await assert_400(
            client,
            ask(video(data_uri(small, "video/x-matroska"))),
            "messages[0].content[0].video_url",
            "more than the 1000000",
        )


@pytest.mark.parametrize(
    "part",
    [
        lambda mp4: image(data_uri(PNG, "image/png"), min_pixels=100_000_000, max_pixels=200_000_000),
        lambda mp4: video(data_uri(mp4, "video/mp4"), min_pixels=20_000_000, max_pixels=30_000_000),
    ],
)
async def test_min_pixels_needing_more_tokens_than_the_context_is_a_400(mp4, part):
    async with client_for(ScriptedEngine()) as client:  # the scripted model's context: 4096 tokens
        await assert_400(
            client, ask(part(mp4)), f"messages[0].content[0].{part(mp4)['type']}", "vision tokens", "context of 4096"
        )


async def test_an_image_beyond_the_models_aspect_ratio_is_a_400():
    buffer = io.BytesIO()
    Image.new("RGB", (1, 300), (9, 9, 9)).save(buffer, format="PNG")
    async with client_for(ScriptedEngine()) as client:
        await assert_400(
            client,
            ask(image(data_uri(buffer.getvalue(), "image/png"))),
            "messages[0].content[0].image_url",
            "aspect ratio is 300.0:1",
            "at most 200:1",
        )
