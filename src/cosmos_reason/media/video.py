"""Video decoding: bytes in, the sampled and resized frames the Qwen2.5-VL processor wants out.

The frames and their indices are exactly those of the reference path, qwen-vl-utils'
`fetch_video` with its decord reader, and the pixels within one rounding step (see
resize.py): frame count = the stream's packets,
frame rate = the stream's average rate, `video_start`/`video_end` clipping, smart_nframes,
rounded float32 linspace indices, torchvision's bicubic antialiased resize. But:

* the input is an in-memory buffer (no temporary file), decoded with PyAV, in an
  allowlisted container opened with no access to anything else (container.py);
* every picture that a kept picture depends on is decoded; H.264 pictures nothing refers
  to (nal_ref_idc 0) are skipped unless kept, and decoding stops after the last kept one;
* only the kept frames are converted to RGB and resized, one at a time on a helper thread
  while the decoder goes on, so memory holds the compressed packets (about the input's
  size) plus the kept, already-resized frames: never the whole video.

`load_video` is synchronous and CPU-bound; the server calls it in a worker pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from .container import ffmpeg_reason, open_container
from .errors import MediaError
from .options import DEFAULT_MAX_IMAGE_PIXELS, VideoOptions
from .packets import disposable_packets, pts_timeline
from .resize import resizer
from .vision_math import (
    FRAME_FACTOR,
    PATCH_SIZE,
    frame_range,
    num_tokens,
    sample_indices,
    smart_nframes,
    video_frame_size,
)

#: Converted frames waiting for the helper thread: bounds memory when it falls behind.
_MAX_PENDING = 4


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

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def second_per_grid_ts(self) -> float:
        """Seconds covered by one temporal patch (what the processor derives)."""
        return FRAME_FACTOR / self.sample_fps

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


def load_video(
    data: bytes,
    options: VideoOptions | None = None,
    *,
    max_frame_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_tokens: int | None = None,
) -> DecodedVideo:
    """Decode an in-memory video and return the frames qwen-vl-utils would sample.

    Raises MediaError for empty or non-video data, audio-only files, unsupported
    codecs, truncated files and videos without (enough) decodable frames; for frames
    over `max_frame_pixels` (checked from the stream header, and by the decoder
    itself), and for sampling that would need more than `max_tokens` vision tokens or
    an aspect ratio the model cannot take (both from the arithmetic, before decoding).
    """
    options = options or VideoOptions()
    limits = _Limits(max_frame_pixels, max_tokens)
    if not data:
        raise MediaError("video data is empty")
    with open_container(data, max_frame_pixels) as container:
        stream = _video_stream(container)
        size = _frame_size(stream, max_frame_pixels)
        fps = _frame_rate(stream)
        packets = _read_packets(container, stream)
        disposable = disposable_packets(stream.codec_context, packets)
    plan, decoded = _sample(data, packets, disposable, fps, options, size, limits)
    return DecodedVideo(
        frames=decoded.frames,
        frame_indices=tuple(plan.indices),
        sample_fps=plan.nframes / plan.clip_frames * fps,
        fps=fps,
        total_frames=plan.total_frames,
        clip_frames=plan.clip_frames,
        duration=plan.total_frames / fps,
        source_height=decoded.source_size[0],
        source_width=decoded.source_size[1],
        rotation=decoded.rotation,
    )


def _sample(
    data: bytes,
    packets: list[av.Packet],
    disposable: set[int],
    fps: float,
    options: VideoOptions,
    size: tuple[int, int],
    limits: _Limits,
) -> tuple[_Plan, _Decoded]:
    """Plan from the packet count and decode; fall back to slower, surer ways if needed."""
    plan = _Plan.make(len(packets), fps, options)
    _check_output(plan, size, options, limits.tokens)
    timeline = pts_timeline(packets)
    decoded = None
    pixels = limits.frame_pixels
    if timeline is not None:
        # Fast path: frame index = rank of the packet's pts (decord's mapping); skip
        # non-reference packets whose frame is not kept.
        decoded = _decode(data, packets, plan, options, timeline, disposable, max_pixels=pixels)
    if decoded is None or decoded.missing:
        decoded = _decode(data, packets, plan, options, None, set(), max_pixels=pixels)
    if decoded.missing and decoded.count >= FRAME_FACTOR:
        # Some packets gave no picture, so the stream is shorter than its packet count:
        # sample again over the pictures that exist (decord would fail here).
        plan = _Plan.make(decoded.count, fps, options)
        decoded = _decode(data, packets, plan, options, None, set(), max_pixels=pixels)
    if decoded.missing:
        raise MediaError("video has no decodable frames" if decoded.count == 0 else "video frames could not be decoded")
    return plan, decoded


# --------------------------------------------------------------------------- demuxing


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["no streams"]
        raise MediaError(f"data has no video stream (found: {', '.join(kinds)})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaError("video codec is not supported")
    return stream


def _frame_size(stream: av.video.stream.VideoStream, max_pixels: int) -> tuple[int, int]:
    """(height, width) from the stream's header, refused beyond `max_pixels` before any decoding.

    A size of 0x0 here means FFmpeg's probe met a picture over the limit (open_container
    makes the probing decoders refuse those) or could not read one at all.
    """
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise MediaError(f"video frames are more than the {max_pixels} pixels allowed, or of a size that cannot be read")
    if width * height > max_pixels:
        raise MediaError(f"video frames are {width}x{height} pixels, more than the {max_pixels} allowed")
    return height, width


def _check_output(plan: _Plan, size: tuple[int, int], options: VideoOptions, max_tokens: int | None) -> None:
    """Refuse, from the arithmetic alone, sampling that the model cannot take.

    The frame size qwen-vl-utils will resize to comes from the header's size (rotation
    swaps the sides, not the area), so an aspect ratio beyond 200:1 or a min_pixels /
    max_pixels that would need more vision tokens than the context fails here, before
    any frame is decoded or any output buffer allocated.
    """
    height, width = video_frame_size(
        *size, plan.nframes, min_pixels=options.min_pixels, max_pixels=options.max_pixels,
        total_pixels=options.total_pixels,
    )
    tokens = num_tokens((plan.nframes // FRAME_FACTOR, height // PATCH_SIZE, width // PATCH_SIZE))
    if max_tokens is not None and tokens > max_tokens:
        raise MediaError(
            f"video would take {tokens} vision tokens ({plan.nframes} frames of {width}x{height} pixels), more than "
            f"the model's context of {max_tokens}; lower min_pixels, max_pixels, total_pixels, fps or nframes"
        )


def _read_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[av.Packet]:
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


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    """The stream's average frame rate (decord's get_avg_fps), else FFmpeg's best guess."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and float(rate) > 0:
            return float(Fraction(rate))
    raise MediaError("video has no usable frame rate")


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    total_frames: int
    clip_frames: int
    nframes: int
    indices: list[int]
    slots: dict[int, list[int]] = field(repr=False)  # source index -> output positions

    @classmethod
    def make(cls, total_frames: int, fps: float, options: VideoOptions) -> _Plan:
        if total_frames == 0:
            raise MediaError("video has no decodable frames")
        if total_frames == 1:
            raise MediaError(f"video has only 1 frame; at least {FRAME_FACTOR} are needed")
        start, end, clip_frames = frame_range(total_frames, fps, options.video_start, options.video_end)
        nframes = smart_nframes(
            clip_frames,
            fps,
            fps=None if options.nframes is not None else options.fps,
            nframes=options.nframes,
            min_frames=options.min_frames,
            max_frames=options.max_frames,
        )
        indices = sample_indices(start, end, nframes)
        slots: dict[int, list[int]] = {}
        for position, index in enumerate(indices):
            slots.setdefault(index, []).append(position)
        return cls(total_frames, clip_frames, nframes, indices, slots)


# --------------------------------------------------------------------------- decoding


@dataclass
class _Decoded:
    frames: torch.Tensor
    count: int  # pictures the decoder produced (up to the last wanted one)
    missing: bool  # a wanted index was never produced
    source_size: tuple[int, int]
    rotation: int


class _FrameSink:
    """Converts kept frames to RGB and resizes them on a helper thread, into one array.

    The decoder keeps running meanwhile (PyAV and numpy release the GIL). Nothing here
    starts an OpenMP parallel region or a BLAS thread (see resize.py), so the helper never
    has worker threads spin against the decoder's threads.
    """

    def __init__(self, plan: _Plan, options: VideoOptions) -> None:
        self._plan = plan
        self._options = options
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video-rgb")
        self._pending: deque[Future[None]] = deque()
        self._reformatter = VideoReformatter()  # reused: building a scaler per frame is slow
        self._frames: np.ndarray | None = None
        self._resize: Callable[[np.ndarray], np.ndarray] | None = None
        self.submitted = 0
        self.filled = 0
        self.source_size = (0, 0)
        self.rotation = 0

    @property
    def frames(self) -> torch.Tensor:
        if self._frames is None:
            return torch.empty((0, 3, 0, 0), dtype=torch.uint8)
        return torch.from_numpy(self._frames)

    def submit(self, index: int, frame: av.VideoFrame) -> None:
        self.submitted += len(self._plan.slots[index])
        self._pending.append(self._pool.submit(self._store, index, frame))
        while len(self._pending) > _MAX_PENDING:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _store(self, index: int, frame: av.VideoFrame) -> None:
        rotation = _rotation(frame)
        rgb = _upright(self._reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray(), rotation)
        if self._frames is None:
            self._allocate(rgb.shape[0], rgb.shape[1])
            self.rotation = rotation
        assert self._frames is not None and self._resize is not None
        chw = self._resize(rgb)
        for position in self._plan.slots[index]:
            self._frames[position] = chw
            self.filled += 1

    def _allocate(self, height: int, width: int) -> None:
        options = self._options
        self.source_size = (height, width)
        out_h, out_w = video_frame_size(
            height,
            width,
            self._plan.nframes,
            min_pixels=options.min_pixels,
            max_pixels=options.max_pixels,
            total_pixels=options.total_pixels,
        )
        self._frames = np.empty((self._plan.nframes, 3, out_h, out_w), dtype=np.uint8)
        self._resize = resizer(height, width, out_h, out_w)


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise turn (0/90/180/270) the display matrix asks for, as decord applies it."""
    try:
        return round(frame.rotation) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if rotation in (90, 180, 270):
        return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def _decode(
    data: bytes,
    packets: list[av.Packet],
    plan: _Plan,
    options: VideoOptions,
    timeline: dict[int, int] | None,
    disposable: set[int],
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> _Decoded:
    """Decode packets in order and hand only the wanted pictures to the sink.

    With a pts timeline a picture's index is looked up from its pts and disposable
    packets of unwanted frames are never sent; without one, pictures are counted.
    The decoder refuses pictures over `max_pixels` (a header may lie about the size).
    """
    sink = _FrameSink(plan, options)
    count = 0
    try:
        with open_container(data, max_pixels) as container:
            codec = container.streams.video[0].codec_context
            codec.options = {**codec.options, "max_pixels": str(max_pixels)}
            codec.thread_type = "AUTO"  # frame + slice threads: decoding is the floor of this path
            sent = _packets_to_send(packets, plan, timeline, disposable)
            for frame in _pictures(codec, sent):
                index = count if timeline is None else timeline.get(frame.pts, -1)
                count += 1
                if index < 0:
                    break  # a picture we cannot place: the caller retries by counting
                if index in plan.slots:
                    sink.submit(index, frame)
                    if sink.submitted == plan.nframes:
                        break  # everything after the last kept frame is unneeded
    finally:
        sink.close()
    return _Decoded(sink.frames, count, sink.filled < plan.nframes, sink.source_size, sink.rotation)


def _packets_to_send(
    packets: list[av.Packet], plan: _Plan, timeline: dict[int, int] | None, disposable: set[int]
) -> Iterator[av.Packet]:
    for position, packet in enumerate(packets):
        if timeline is not None and position in disposable and timeline[packet.pts] not in plan.slots:
            continue  # nothing refers to this picture and we do not keep it: skip decoding it
        yield packet


def _pictures(codec: av.CodecContext, packets: Iterator[av.Packet]) -> Iterator[av.VideoFrame]:
    try:
        for packet in packets:
            yield from codec.decode(packet)
        yield from codec.decode(None)
    except av.FFmpegError as exc:
        raise MediaError(f"video could not be decoded ({ffmpeg_reason(exc)})") from None
