"""Decoding the packets of a planned video, handing only the kept pictures to a FrameSink.

Every picture that a kept picture depends on is decoded; H.264 pictures nothing refers
to (nal_ref_idc 0, found by media/packets.py) are skipped unless kept, and decoding stops
after the last kept one. Speed against the reference: docs/performance.md#media-preprocessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import torch

from ..container import ffmpeg_reason, open_container
from ..errors import MediaError
from ..options import DEFAULT_MAX_IMAGE_PIXELS, MediaOptions
from ..vision_math import VisionGeometry
from .frames import FrameSink
from .selection import SamplePlan


@dataclass
class Decoded:
    """What one decoding pass produced."""

    frames: torch.Tensor
    count: int  # pictures the decoder produced (up to the last wanted one)
    missing: bool  # a wanted index was never produced
    source_size: tuple[int, int]
    rotation: int


def decode(
    data: bytes,
    packets: list[av.Packet],
    plan: SamplePlan,
    options: MediaOptions,
    geometry: VisionGeometry,
    timeline: dict[int, int] | None,
    disposable: set[int],
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Decoded:
    """Decode packets in order and hand only the wanted pictures to the sink.

    With a pts timeline a picture's index is looked up from its pts and disposable
    packets of unwanted frames are never sent; without one, pictures are counted.
    The decoder refuses pictures over `max_pixels` (a header may lie about the size).
    """
    sink = FrameSink(plan, options, geometry)
    count = 0
    try:
        with open_container(data, max_pixels) as container:
            codec = container.streams.video[0].codec_context
            codec.options = {**codec.options, "max_pixels": str(max_pixels)}
            codec.thread_type = "AUTO"  # frame + slice threads: decoding is the floor of this path
            sent = _packets_to_send(packets, plan, timeline, disposable)
            for frame in _pictures(codec, sent):
                index = count if timeline is None or frame.pts is None else timeline.get(frame.pts, -1)
                count += 1
                if index < 0:
                    break  # a picture we cannot place: the caller retries by counting
                if index in plan.slots:
                    sink.submit(index, frame)
                    if sink.submitted == plan.nframes:
                        break  # everything after the last kept frame is unneeded
    finally:
        sink.close()
    return Decoded(sink.frames, count, sink.filled < plan.nframes, sink.source_size, sink.rotation)


def _packets_to_send(
    packets: list[av.Packet], plan: SamplePlan, timeline: dict[int, int] | None, disposable: set[int]
) -> Iterator[av.Packet]:
    for position, packet in enumerate(packets):
        if (
            timeline is not None
            and position in disposable
            and packet.pts is not None
            and timeline[packet.pts] not in plan.slots
        ):
            continue  # nothing refers to this picture and we do not keep it: skip decoding it
        yield packet


def _pictures(codec: av.VideoCodecContext, packets: Iterator[av.Packet]) -> Iterator[av.VideoFrame]:
    try:
        for packet in packets:
            yield from codec.decode(packet)
        yield from codec.decode(None)
    except av.FFmpegError as exc:
        raise MediaError(f"video could not be decoded ({ffmpeg_reason(exc)})") from None
