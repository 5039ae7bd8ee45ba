"""`load_video`: bytes in, the sampled and resized frames the processor wants out, as a DecodedVideo.

Reads the header and packets (demux.py), plans which frames to keep (selection.py), checks
the result fits the model before decoding, then decodes (decode.py), falling back to
slower, surer passes when the fast one misses frames. Overview: media/video/__init__.py;
options and limits: docs/media.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import torch

from ..container import open_container
from ..errors import MediaError
from ..options import DEFAULT_MAX_IMAGE_PIXELS, QWEN_VL_UTILS, MediaOptions
from ..packets import disposable_packets, pts_timeline
from ..vision_math import VisionGeometry
from .decode import Decoded, decode
from .demux import frame_rate, frame_size, read_packets, video_stream
from .selection import SamplePlan, check_output_size


@dataclass(frozen=True)
class DecodedVideo:
    """The kept frames of a video and what the processor needs to know about them.

    frames: uint8 torch tensor (T, 3, H, W), contiguous, RGB, already resized the way
        qwen-vl-utils resizes (the HF processor may resize once more, as it does in the
        reference: engine/hf/inputs.py hands them over).
    frame_indices: index in the source stream of each kept frame.
    sample_fps: frames per second of the kept frames (qwen-vl-utils' sample_fps).
    fps: the source stream's average frame rate.
    total_frames: frames in the source stream.
    clip_frames: frames inside [video_start, video_end] (all of them when unset): the
        `total_num_frames` qwen-vl-utils reports to the processor.
    duration: seconds, total_frames / fps.
    source_height, source_width: the decoded (rotation-applied) frame size.
    rotation: counter-clockwise degrees applied from the stream's display matrix.
    timestamped: the frames carry the `timestamp` overlay (media/overlay.py): 28 rows taller
        than qwen-vl-utils' size, handed to the processor as uint8 as the Cosmos-Reason1
        repository does.
    """

    frames: torch.Tensor
    frame_indices: tuple[int, ...]
    sample_fps: float
    fps: float
    total_frames: int
    clip_frames: int
    duration: float
    source_height: int
    source_width: int
    rotation: int = 0
    timestamped: bool = False

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def metadata(self) -> dict[str, Any]:
        """The video_metadata entry for the transformers 5.x processor (qwen-vl-utils' keys)."""
        return {
            "fps": self.fps,
            "frames_indices": list(self.frame_indices),
            "total_num_frames": self.clip_frames,
            "video_backend": "pyav",
        }


@dataclass(frozen=True)
class _Limits:
    frame_pixels: int  # largest decoded frame (the images' decompression-bomb bound)
    tokens: int | None  # vision tokens the video may take (the model's context); None: unchecked
    geometry: VisionGeometry  # the model family's encoder


def load_video(
    data: bytes,
    options: MediaOptions | None = None,
    *,
    geometry: VisionGeometry,
    max_frame_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_tokens: int | None = None,
) -> DecodedVideo:
    """Decode an in-memory video and return the frames qwen-vl-utils would sample.

    Raises MediaError for empty or non-video data, audio-only files, unsupported
    codecs, truncated files and videos without (enough) decodable frames; for frames
    over `max_frame_pixels` (checked from the stream header, and by the decoder
    itself), and for sampling that would need more than `max_tokens` vision tokens or
    an aspect ratio the model cannot take (both from the arithmetic, before decoding).
    With `timestamp`, each kept frame gets its time drawn below it (media/overlay.py).
    """
    options = (options or MediaOptions()).over(QWEN_VL_UTILS)
    limits = _Limits(max_frame_pixels, max_tokens, geometry)
    if not data:
        raise MediaError("video data is empty")
    with open_container(data, max_frame_pixels) as container:
        stream = video_stream(container)
        size = frame_size(stream, max_frame_pixels)
        fps = frame_rate(stream)
        packets = read_packets(container, stream)
        disposable = disposable_packets(stream.codec_context, packets)
    plan, decoded = _sample(data, packets, disposable, fps, options, size, limits)
    sample_fps = plan.nframes / plan.clip_frames * fps
    frames = decoded.frames
    if options.timestamp:
        from ..overlay import overlay_timestamps

        frames = overlay_timestamps(frames, sample_fps)
    return DecodedVideo(
        frames=frames,
        frame_indices=tuple(plan.indices),
        sample_fps=sample_fps,
        fps=fps,
        total_frames=plan.total_frames,
        clip_frames=plan.clip_frames,
        duration=plan.total_frames / fps,
        source_height=decoded.source_size[0],
        source_width=decoded.source_size[1],
        rotation=decoded.rotation,
        timestamped=bool(options.timestamp),
    )


def _sample(
    data: bytes,
    packets: list[av.Packet],
    disposable: set[int],
    fps: float,
    options: MediaOptions,
    size: tuple[int, int],
    limits: _Limits,
) -> tuple[SamplePlan, Decoded]:
    """Plan from the packet count and decode; fall back to slower, surer ways if needed."""
    geometry = limits.geometry
    plan = SamplePlan.make(len(packets), fps, options, geometry)
    check_output_size(plan, size, options, geometry, limits.tokens)
    timeline = pts_timeline(packets)
    decoded = None
    pixels = limits.frame_pixels
    if timeline is not None:
        # Fast path: frame index = rank of the packet's pts (decord's mapping); skip
        # non-reference packets whose frame is not kept.
        decoded = decode(data, packets, plan, options, geometry, timeline, disposable, max_pixels=pixels)
    if decoded is None or decoded.missing:
        decoded = decode(data, packets, plan, options, geometry, None, set(), max_pixels=pixels)
    if decoded.missing and decoded.count >= geometry.temporal_patch_size:
        # Some packets gave no picture, so the stream is shorter than its packet count:
        # sample again over the pictures that exist (decord would fail here).
        plan = SamplePlan.make(decoded.count, fps, options, geometry)
        decoded = decode(data, packets, plan, options, geometry, None, set(), max_pixels=pixels)
    if decoded.missing:
        raise MediaError("video has no decodable frames" if decoded.count == 0 else "video frames could not be decoded")
    return plan, decoded
