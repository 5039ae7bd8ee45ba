"""The `timestamp` overlay on the real engine (demo checkpoint): the model gets the taller frames,
one more row of tokens per temporal patch."""

from __future__ import annotations

from cosmos_reason.engine.base import Conversation, GenerationRequest, SamplingParams, Text, Turn, VideoInput
from tests.media_factory import load_video, mp4_bytes, reason1_video


async def prompt_tokens(engine, video) -> int:
    conversation = Conversation((Turn("user", (VideoInput(video), Text("When?"))),))
    request = GenerationRequest(f"t{video.timestamped}", conversation, SamplingParams(max_tokens=1, temperature=0.0))
    counts = [delta.prompt_tokens async for delta in engine.generate(request)]
    return counts[-1]


async def test_the_overlay_costs_one_row_of_tokens_per_temporal_patch(engine):
    clip = mp4_bytes(seconds=2.0, fps=8, width=112, height=84)
    plain = load_video(clip, reason1_video(nframes=4))
    stamped = load_video(clip, reason1_video(nframes=4, timestamp=True))
    frames, _, _, width = plain.frames.shape
    extra = await prompt_tokens(engine, stamped) - await prompt_tokens(engine, plain)
    assert extra == (frames // 2) * (width // 28)
