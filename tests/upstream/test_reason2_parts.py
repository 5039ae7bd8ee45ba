"""Cosmos-Reason2 videos through the upstream front, in process: what a vLLM upstream is told
about the frames' timing, and that our own server as the upstream rebuilds exactly the prompt
our engine builds directly (same ids, same `<t seconds>`, same pixels). The servers themselves
are in test_reason2_servers.py."""

from __future__ import annotations

import re

import pytest
import torch

from cosmos_reason.api.protocol import ChatMessage
from cosmos_reason.chat.messages import build_conversation
from cosmos_reason.engine.base import Conversation, SamplingParams, Text, Turn, VideoInput
from cosmos_reason.engine.upstream import media as upstream_media
from cosmos_reason.engine.upstream.wire import chat_body
from cosmos_reason.errors import APIError
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.options import MediaOptions
from tests.media_factory import data_uri, mp4_bytes

#: A 30 fps source: the kept frames' times are not multiples of 1 / sampled fps, so timestamps
#: written from the file's own rate would differ from the source's.
SOURCE = mp4_bytes(seconds=4.0, fps=30, width=96, height=64)
CASES = {
    "fps": MediaOptions(fps=4.0),
    "nframes": MediaOptions(nframes=10),
    "start-end": MediaOptions(fps=3.0, video_start=1.1, video_end=3.4),
}


def reason2_loader() -> MediaLoader:
    return MediaLoader(geometry=REASON2.geometry, video_defaults=REASON2.video)


async def decoded(options: MediaOptions):
    loader = reason2_loader()
    try:
        return await loader.load_video(data_uri(SOURCE, "video/mp4"), options)
    finally:
        await loader.close()


def conversation(video) -> Conversation:
    return Conversation((Turn("user", (VideoInput(video), Text("What happens?"))),))


def qwen3_timestamps(fps: float, indices: list[int]) -> list[str]:
    """What vLLM's Qwen3-VL processor writes from a frame list's metadata: each temporal patch's
    time is the mean of its two frames' index / fps (vLLM `_calculate_timestamps`)."""
    seconds = [i / fps for i in indices]
    return [f"<{(seconds[i] + seconds[i + 1]) / 2:.1f} seconds>" for i in range(0, len(seconds), 2)]


@pytest.mark.parametrize("case", CASES)
async def test_a_vllm_upstream_is_told_the_source_timing_our_prompt_has(case, reason2_model_dir):
    from transformers import AutoProcessor

    from cosmos_reason.engine.hf.inputs import build_inputs

    video = await decoded(CASES[case])
    body = chat_body(conversation(video), SamplingParams(max_tokens=3), "m", "vllm", REASON2)
    sent = body["media_io_kwargs"]["video"]
    assert sent["num_frames"] == -1 and body["mm_processor_kwargs"] == {"do_sample_frames": False}
    assert sent["fps"] == pytest.approx(30.0) and len(sent["frames_indices"]) == video.num_frames
    assert sent["total_num_frames"] >= video.num_frames  # vLLM refuses fewer than the frames sent
    processor = AutoProcessor.from_pretrained(reason2_model_dir)
    ours = processor.tokenizer.decode(build_inputs(processor, conversation(video), REASON2)["input_ids"][0])
    written = re.findall(r"<[0-9.]+ seconds>", ours)
    assert written == qwen3_timestamps(sent["fps"], sent["frames_indices"])
    if case == "start-end":
        assert written[0] != "<0.0 seconds>" and written[0] != "<0.1 seconds>"  # the span's place in the source


async def test_videos_of_one_request_must_share_their_timing_for_vllm():
    four, three = await decoded(MediaOptions(fps=4.0)), await decoded(MediaOptions(fps=3.0))
    two = Conversation((Turn("user", (VideoInput(four), VideoInput(four), Text("Same?"))),))
    assert chat_body(two, SamplingParams(max_tokens=3), "m", "vllm", REASON2)["media_io_kwargs"]["video"]["fps"] == 30
    mixed = Conversation((Turn("user", (VideoInput(four), VideoInput(three), Text("Same?"))),))
    with pytest.raises(ValueError, match="different frame timing"):
        chat_body(mixed, SamplingParams(max_tokens=3), "m", "vllm", REASON2)


async def forwarded(video):
    """The video as our own server (the upstream) reads the part the front sends it."""
    part = upstream_media.cosmos_video_part(video)
    message = ChatMessage.model_validate(
        {
            "role": "user",
            "content": [{"type": "video_url", "video_url": part}, {"type": "text", "text": "What happens?"}],
        }
    )
    loader = reason2_loader()
    try:
        return (await build_conversation([message], loader)).videos()[0]
    finally:
        await loader.close()


@pytest.mark.parametrize("case", CASES)
async def test_our_own_server_as_upstream_builds_the_same_prompt(case, reason2_model_dir):
    from transformers import AutoProcessor

    from cosmos_reason.engine.hf.inputs import build_inputs

    processor = AutoProcessor.from_pretrained(reason2_model_dir)
    video = await decoded(CASES[case])
    again = await forwarded(video)
    assert torch.equal(again.frames, video.frames)
    assert again.metadata == video.metadata and again.sample_fps == video.sample_fps
    direct = build_inputs(processor, conversation(video), REASON2)
    upstream = build_inputs(processor, conversation(again), REASON2)
    assert torch.equal(upstream["input_ids"], direct["input_ids"])
    assert torch.equal(upstream["video_grid_thw"], direct["video_grid_thw"])
    assert torch.equal(upstream["pixel_values_videos"], direct["pixel_values_videos"])
    # Without the source timing the file's own rate would have written other timestamps.
    untimed = build_inputs(processor, conversation(await forwarded_untimed(video)), REASON2)
    assert not torch.equal(untimed["input_ids"], direct["input_ids"])


async def forwarded_untimed(video):
    part = upstream_media.cosmos_video_part(video)
    del part["sampled_from"]
    message = ChatMessage.model_validate({"role": "user", "content": [{"type": "video_url", "video_url": part}]})
    loader = reason2_loader()
    try:
        return (await build_conversation([message], loader)).videos()[0]
    finally:
        await loader.close()


async def test_sampled_from_is_checked_against_the_file():
    video = await decoded(MediaOptions(nframes=4))
    part = upstream_media.cosmos_video_part(video)
    part["sampled_from"]["frames_indices"] = part["sampled_from"]["frames_indices"][:-1]
    message = ChatMessage.model_validate({"role": "user", "content": [{"type": "video_url", "video_url": part}]})
    loader = reason2_loader()
    try:
        with pytest.raises(APIError) as caught:
            await build_conversation([message], loader)
        assert caught.value.status == 400
        assert "messages[0].content[0].video_url.sampled_from.frames_indices: 3 indices for a video of 4 frames" in (
            caught.value.message
        )
        image = {"url": data_uri(mp4_bytes(), "image/png"), "sampled_from": part["sampled_from"]}
        message = ChatMessage.model_validate({"role": "user", "content": [{"type": "image_url", "image_url": image}]})
        with pytest.raises(APIError, match="only a video has frames"):
            await build_conversation([message], loader)
    finally:
        await loader.close()
