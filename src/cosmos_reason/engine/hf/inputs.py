"""Conversation -> model-ready tensors with the checkpoint's own processor.

The chat template and the processor are the checkpoint's, so a real
checkpoint folder and the demo folder preprocess identically. The media package
hands over decoded frames and their timing; how they become the processor's `videos=`
and its keyword arguments (everything that reads `video_processor.*`) is decided here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...families.base import ModelFamily
from ..base import Conversation, ImageInput, Text, VideoInput

if TYPE_CHECKING:
    import torch

    from ...media.video import DecodedVideo


def template_messages(conversation: Conversation) -> list[dict]:
    """The message shape Qwen-VL chat templates expect; media become placeholders."""
    messages = []
    for turn in conversation.turns:
        content: list[dict] = []
        for part in turn.parts:
            if isinstance(part, Text):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImageInput):
                content.append({"type": "image"})
            elif isinstance(part, VideoInput):
                content.append({"type": "video"})
        messages.append({"role": turn.role, "content": content})
    return messages


def prompt_text(processor: Any, conversation: Conversation) -> str:
    return processor.apply_chat_template(template_messages(conversation), tokenize=False, add_generation_prompt=True)


def build_inputs(processor: Any, conversation: Conversation, family: ModelFamily) -> Any:
    """A BatchFeature with input_ids, attention_mask, mm_token_type_ids and vision tensors."""
    images = conversation.images()
    videos = conversation.videos()
    kwargs: dict[str, Any] = {}
    text = prompt_text(processor, conversation)
    if videos:
        kwargs.update(family.processor_video_kwargs(videos))
        videos = processor_videos(videos, getattr(processor, "video_processor", None))
        if family.processor_prompt is not None:
            text = family.processor_prompt(text)
    return processor(
        text=[text],
        images=images or None,
        videos=videos or None,
        return_tensors="pt",
        **kwargs,
    )


def processor_videos(videos: list[DecodedVideo], video_processor: Any | None = None) -> list[torch.Tensor]:
    """The `videos=` argument for the processor: each video's frames, uint8 or float32.

    qwen-vl-utils hands the processor float32 frames. When the processor resizes them
    once more (a video processor whose size limits differ from qwen-vl-utils'), it
    resamples float input in float but uint8 input with a different uint8 kernel (up to
    ~20 levels apart), so float32 is needed to match the reference. Given the
    processor's `video_processor`, frames it provably leaves at their size stay uint8
    (4x less memory, same output); without it every video is converted. Frames with the
    `timestamp` overlay stay uint8: the Cosmos-Reason1 repository hands them to the
    processor as uint8 (its overlay returns uint8), so a processor that resizes them
    resizes them as there.
    """
    return [
        video.frames if video.timestamped or _kept_size(video, video_processor) else video.frames.float()
        for video in videos
    ]


def _kept_size(video: DecodedVideo, video_processor: Any | None) -> bool:
    """True when a Qwen2-VL video processor will not resize these frames."""
    if video_processor is None:
        return False
    if not getattr(video_processor, "do_resize", True):
        return True
    try:
        size = video_processor.size
        factor = int(video_processor.patch_size) * int(video_processor.merge_size)
        min_pixels, max_pixels = int(size["shortest_edge"]), int(size["longest_edge"])
        if getattr(video_processor, "cap_pixels_per_frame", None):
            budget = int(video_processor.max_video_tokens * factor * factor * 0.9)
            share = budget * int(video_processor.temporal_patch_size) // video.num_frames
            max_pixels = max(min(max_pixels, share), int(min_pixels * 1.05))
    except (AttributeError, KeyError, TypeError, ValueError):
        return False  # an unfamiliar processor: float32 is always right
    height, width = video.frames.shape[-2:]
    pixels = height * width
    if _bounds_whole_clip(video_processor):
        temporal = int(video_processor.temporal_patch_size)
        pixels *= max(round(video.num_frames / temporal), 1) * temporal
    return height % factor == 0 and width % factor == 0 and min_pixels <= pixels <= max_pixels


def _bounds_whole_clip(video_processor: Any) -> bool:
    """Qwen3-VL's video processor bounds the clip's T x H x W by its size, Qwen2-VL's each frame."""
    return type(video_processor).__module__.endswith("video_processing_qwen3_vl")
