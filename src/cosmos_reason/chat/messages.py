"""OpenAI chat messages -> the engine's Conversation, loading media on the way.

Errors name the message and part they come from, e.g.
`messages[1].content[0].image_url: image could not be decoded`.
Media options: the part's own (next to its url) win over the request's (media/options.py).
A video part's `sampled_from` gives its frames the timing of the video they came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import ValidationError

from ..api.protocol import ChatMessage, ImageURLPart, MediaOverrides, SampledFrom, TextPart, VideoURLPart
from ..engine.base import Conversation, ImageInput, Part, Text, Turn, VideoInput
from ..errors import APIError
from ..media.errors import MediaError
from ..media.loader import MediaLoader
from ..media.options import MediaOptions

if TYPE_CHECKING:
    from ..media.video import DecodedVideo

T = TypeVar("T")
_ROLES: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


async def build_conversation(
    messages: list[ChatMessage], media: MediaLoader, options: MediaOptions | None = None
) -> Conversation:
    # Any conversation is served, even one without a user message (vLLM and OpenAI do too).
    options = options or MediaOptions()
    turns = await _in_order([_turn(i, message, media, options) for i, message in enumerate(messages)])
    return Conversation(tuple(turns))


async def _turn(index: int, message: ChatMessage, media: MediaLoader, options: MediaOptions) -> Turn:
    role = _ROLES[message.role]
    content = message.content
    if content is None:
        if role != "assistant":
            raise APIError(
                400,
                f"messages[{index}].content is required for a {message.role} message",
                param=f"messages[{index}].content",
            )
        return Turn(role, ())
    if isinstance(content, str):
        return Turn(role, (Text(content),))
    for j, part in enumerate(content):
        if not isinstance(part, TextPart) and role != "user":
            where = f"messages[{index}].content[{j}]"
            raise APIError(400, f"{where}: images and videos are only accepted in user messages", param=where)
    parts = await _in_order(
        [_part(part, f"messages[{index}].content[{j}]", media, options) for j, part in enumerate(content)]
    )
    return Turn(role, tuple(parts))


async def _in_order(work: list[Awaitable[T]]) -> list[T]:
    """Load every part at once (the media pool bounds the real work); report the first failure in message order."""
    results = await asyncio.gather(*work, return_exceptions=True)
    loaded: list[T] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        loaded.append(result)
    return loaded


async def _part(
    part: TextPart | ImageURLPart | VideoURLPart, where: str, media: MediaLoader, request_options: MediaOptions
) -> Part:
    if isinstance(part, TextPart):
        return Text(part.text)
    field = f"{where}.{part.type}"
    source = part.image_url if isinstance(part, ImageURLPart) else part.video_url
    options = media_options(source.overrides(), field).over(request_options)
    if source.sampled_from is not None and isinstance(part, ImageURLPart):
        raise APIError(400, f"{field}.sampled_from: only a video has frames", param=f"{field}.sampled_from")
    try:
        if isinstance(part, ImageURLPart):
            return ImageInput(await media.load_image(source.url, options))
        video = await media.load_video(source.url, options)
    except MediaError as exc:
        raise APIError(400, f"{field}: {exc}", param=field) from None
    if source.sampled_from is not None:
        video = with_source_timing(video, source.sampled_from, f"{field}.sampled_from")
    return VideoInput(video)


def with_source_timing(video: DecodedVideo, source: SampledFrom, field: str) -> DecodedVideo:
    """The decoded video with the timing of the video its file's frames were sampled from
    (api/protocol.py SampledFrom): frame j of the file is frame `frames_indices[j]` there, so
    the frames kept from the file keep their place in the source, at the source's rate. (The
    indices may pass total_num_frames: with video_start they count from the source's start,
    total_num_frames only the sampled span's frames, as qwen-vl-utils reports them.)"""
    if len(source.frames_indices) != video.total_frames:
        raise APIError(
            400,
            f"{field}.frames_indices: {len(source.frames_indices)} indices for a video of {video.total_frames} frames "
            "(one per frame of the file)",
            param=f"{field}.frames_indices",
        )
    indices = tuple(source.frames_indices[j] for j in video.frame_indices)
    return replace(
        video,
        frame_indices=indices,
        fps=source.fps,
        clip_frames=source.total_num_frames,
        sample_fps=len(indices) / source.total_num_frames * source.fps,  # qwen-vl-utils' sample_fps
    )


def media_options(values: dict[str, Any], field: str) -> MediaOptions:
    """Media options as a client sent them (at `field`), checked; 400 naming the bad one."""
    try:
        return MediaOverrides.model_validate(values).options()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise APIError(400, f"{field}.{name}: {first['msg']}", param=f"{field}.{name}") from None
