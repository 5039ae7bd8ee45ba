"""How decoded videos become the HF processor's inputs (engine/hf/inputs.py)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from cosmos_reason.engine.hf.inputs import processor_videos
from cosmos_reason.families.reason1.media import processor_video_kwargs
from cosmos_reason.media.video import DecodedVideo


def _fake_video(height: int, width: int, frames: int = 4) -> DecodedVideo:
    return DecodedVideo(
        frames=torch.zeros((frames, 3, height, width), dtype=torch.uint8),
        frame_indices=tuple(range(frames)),
        sample_fps=4.0,
        fps=30.0,
        total_frames=30,
        clip_frames=30,
        duration=1.0,
        source_height=height,
        source_width=width,
    )


def test_processor_video_kwargs() -> None:
    videos = [_fake_video(56, 56), _fake_video(28, 84)]
    kwargs = processor_video_kwargs(videos)
    assert kwargs["do_sample_frames"] is False
    assert kwargs["video_metadata"] == [video.metadata for video in videos]


def test_processor_videos_dtype() -> None:
    video = _fake_video(224, 420)  # 94080 pixels, multiples of 28
    assert processor_videos([video])[0].dtype == torch.float32  # no processor: always float
    keeps = SimpleNamespace(
        do_resize=True,
        size={"shortest_edge": 3136, "longest_edge": 12845056},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
        cap_pixels_per_frame=None,
        max_video_tokens=128000,
    )
    assert processor_videos([video], keeps)[0] is video.frames
    enlarges = SimpleNamespace(**{**vars(keeps), "size": {"shortest_edge": 100352, "longest_edge": 602112}})
    assert processor_videos([video], enlarges)[0].dtype == torch.float32
    no_resize = SimpleNamespace(do_resize=False)
    assert processor_videos([video], no_resize)[0].dtype == torch.uint8
    assert processor_videos([video], object())[0].dtype == torch.float32


def test_timestamped_frames_reach_the_processor_as_uint8_as_in_cosmos_reason1() -> None:
    from dataclasses import replace

    video = replace(_fake_video(252, 420), timestamped=True)  # 224 + the 28-pixel border
    enlarges = SimpleNamespace(
        do_resize=True,
        size={"shortest_edge": 100352 * 4, "longest_edge": 602112 * 4},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
        cap_pixels_per_frame=None,
        max_video_tokens=128000,
    )
    # The processor will resize these; the reference hands its overlaid frames over as uint8.
    assert processor_videos([video], enlarges)[0] is video.frames
    assert processor_videos([replace(video, timestamped=False)], enlarges)[0].dtype == torch.float32
