"""Reading a video's header and packets: the stream, its frame size and rate, its packets.

Nothing here decodes a picture: the frame size is refused from the header before any
decoding, and the packet count is the frame count decord reports (docs/media.md#limits-and-safety).
"""

from __future__ import annotations

from fractions import Fraction

import av

from ..container import ffmpeg_reason
from ..errors import MediaError


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The first video stream, or MediaError naming what the data holds instead."""
    if not container.streams.video:
        kinds: list[str] = sorted({str(stream.type) for stream in container.streams}) or ["no streams"]
        raise MediaError(f"data has no video stream (found: {', '.join(kinds)})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaError("video codec is not supported")
    return stream


def frame_size(stream: av.video.stream.VideoStream, max_pixels: int) -> tuple[int, int]:
    """(height, width) from the stream's header, refused beyond `max_pixels` before any decoding.

    A size of 0x0 here means FFmpeg's probe met a picture over the limit (open_container
    makes the probing decoders refuse those) or could not read one at all.
    """
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise MediaError(
            f"video frames are more than the {max_pixels} pixels allowed, or of a size that cannot be read"
        )
    if width * height > max_pixels:
        raise MediaError(f"video frames are {width}x{height} pixels, more than the {max_pixels} allowed")
    return height, width


def read_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[av.Packet]:
    """All packets of the video stream: their count is the frame count decord reports.

    Holding them costs about the size of the input, which is already in memory.
    """
    packets: list[av.Packet] = []
    try:
        for packet in container.demux(stream):
            if packet.size:  # skip the empty packet PyAV appends to flush the decoder
                packets.append(packet)
    except av.FFmpegError as exc:
        raise MediaError(
            f"video data is truncated or corrupt after {len(packets)} frames ({ffmpeg_reason(exc)})"
        ) from None
    declared = stream.frames
    if declared and len(packets) < declared:
        raise MediaError(f"video data is truncated: the file lists {declared} frames but holds {len(packets)}")
    return packets


def frame_rate(stream: av.video.stream.VideoStream) -> float:
    """The stream's average frame rate (decord's get_avg_fps), else FFmpeg's best guess."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and float(rate) > 0:
            return float(Fraction(rate))
    raise MediaError("video has no usable frame rate")
