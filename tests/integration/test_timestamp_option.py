"""The `timestamp` media option through the API: the frames handed to the engine carry
Cosmos-Reason1's time overlay, set per part or per request; a Reason2 model refuses it."""

from __future__ import annotations

import pytest
import torch

from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.media.overlay import BORDER, overlay_timestamps
from tests.fakes import ScriptedEngine
from tests.media_factory import data_uri, mp4_bytes

from .conftest import make_client


@pytest.fixture(scope="module")
def clip() -> str:
    return data_uri(mp4_bytes(seconds=2.0, fps=8, width=112, height=84), "video/mp4")


def ask(clip: str, media_options: dict | None = None, **part_options) -> dict:
    part = {"type": "video_url", "video_url": {"url": clip, **part_options}}
    body: dict = {"messages": [{"role": "user", "content": [part, {"type": "text", "text": "When?"}]}]}
    if media_options is not None:
        body["media_options"] = media_options
    return body


async def frames_seen(engine: ScriptedEngine, body: dict):
    async with make_client(engine) as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return engine.requests[-1].conversation.videos()[0]


@pytest.mark.parametrize("where", ["part", "request"])
async def test_the_engine_gets_frames_with_their_times_drawn_in(clip, where):
    engine = ScriptedEngine()
    plain = await frames_seen(engine, ask(clip, nframes=4))
    body = ask(clip, nframes=4, timestamp=True) if where == "part" else ask(clip, {"timestamp": True}, nframes=4)
    stamped = await frames_seen(engine, body)
    t, _, height, width = plain.frames.shape
    assert stamped.frames.shape == (t, 3, height + BORDER, width)
    assert stamped.timestamped and not plain.timestamped
    assert torch.equal(stamped.frames[:, :, :height], plain.frames)
    assert torch.equal(stamped.frames, overlay_timestamps(plain.frames, plain.sample_fps))
    assert bool((stamped.frames[:, :, height:] == 255).any())  # white text in the border


async def test_the_part_can_turn_off_what_the_request_asks(clip):
    engine = ScriptedEngine()
    plain = await frames_seen(engine, ask(clip, nframes=4))
    seen = await frames_seen(engine, ask(clip, {"timestamp": True}, nframes=4, timestamp=False))
    assert not seen.timestamped and torch.equal(seen.frames, plain.frames)


async def test_a_non_boolean_timestamp_is_a_400(clip):
    async with make_client(ScriptedEngine()) as client:
        response = await client.post("/v1/chat/completions", json=ask(clip, {"timestamp": "yes"}))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "media_options.timestamp"


async def test_a_reason2_model_refuses_the_overlay_naming_it(clip):
    engine = ScriptedEngine(family=REASON2)
    async with make_client(engine) as client:
        response = await client.post("/v1/chat/completions", json=ask(clip, timestamp=True))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "messages[0].content[0].video_url"
        assert "timestamp" in error["message"] and "Reason2 puts timestamps in the text" in error["message"]
        assert (await client.post("/v1/chat/completions", json=ask(clip))).status_code == 200
    assert len(engine.requests) == 1


async def test_a_recipe_can_ask_for_the_overlay(clip):
    from dataclasses import replace

    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.options import MediaOptions

    recipe = replace(next(iter(REASON1.recipes.values())), name="when", video=MediaOptions(timestamp=True, nframes=4))
    engine = ScriptedEngine(family=replace(REASON1, recipes={**REASON1.recipes, "when": recipe}))
    body = ask(clip)
    body["task"] = "when"
    seen = await frames_seen(engine, body)
    assert seen.timestamped and seen.num_frames == 4
    assert bool((seen.frames[:, :, -BORDER:] == 255).any())
    body["media_options"] = {"timestamp": False}  # the request's own value wins over its recipe's
    assert not (await frames_seen(engine, body)).timestamped
