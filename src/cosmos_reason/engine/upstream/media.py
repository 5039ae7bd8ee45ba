"""Decoded media -> what an upstream server needs to see exactly the same pixels.

Our media pipeline has already fetched, decoded, sampled and resized everything, so an
upstream must not decode or sample anything again. Two wire forms:

* vLLM (`api=vllm`): each video becomes vLLM's pre-sampled frame list, a
  `data:video/jpeg;base64,<frame>,<frame>,...` URI. vLLM opens each frame with Pillow, which
  sniffs the format, so the frames may be PNG (lossless, the default), lossless WebP
  (`frames=webp`: same pixels, ~2x faster to encode, a little smaller) or JPEG
  (`frames=jpeg`, quality 95, 4:4:4: smaller, not bit-exact). The request carries the
  model family's `media_io_kwargs.video` (ModelFamily.upstream_video_fields): for Reason1
  `{"num_frames": -1, "fps": <sampled fps>}`: -1 keeps every frame (vLLM's default keeps
  32), and `fps` makes vLLM's frame metadata say "these T frames are T frames of a
  T/fps-second clip", from which the Qwen2.5-VL processor derives the same
  second_per_grid_ts (2 / sampled fps) as our engine; for Reason2 also the source's fps and
  the kept frames' indices, from which Qwen3-VL writes its `<t seconds>`
  (families/reason2/upstream.py). `mm_processor_kwargs = {"do_sample_frames": false}` is
  what our engine passes to the processor too.
* our own server (`api=cosmos`): a data URI can't carry a frame list there, so each video
  is re-encoded losslessly (FFV1, RGB, in AVI) at the sampled frame rate, with per-part
  options `nframes` = the frame count and `min_pixels` = `max_pixels` = the frame area, so
  that it keeps every frame at its size: the same frames, bit for bit, and the same rate;
  and `sampled_from` = the source's fps, the kept frames' indices in it and the sampled
  span's frame count, so that its processor sees the same timing as ours (Reason2's
  `<t seconds>` follow the source's frames, not the file's).

Images go to both as lossless PNG data URIs of the decoded (and, if asked, resized) image.
"""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

#: JPEG settings for frames=jpeg: high quality, no chroma subsampling.
JPEG_QUALITY = 95
#: zlib level for PNG: 1 is ~3x faster than Pillow's default 6 for ~15% more bytes.
PNG_LEVEL = 1


def encoder_pool() -> ThreadPoolExecutor:
    """Threads for frame encoding (Pillow's encoders release the GIL). The upstream engine owns
    one and shuts it down with itself."""
    return ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="upstream-media")


def encode_image(image: Image.Image, fmt: str = "png") -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    elif fmt == "webp":  # lossless, fastest setting: ~2x faster than PNG level 1, a little smaller
        image.save(buffer, "WEBP", lossless=True, method=0, quality=0)
    else:
        image.save(buffer, "PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def image_data_uri(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_image(image)).decode("ascii")


def frames_hwc(video: Any) -> np.ndarray:
    """(T, H, W, 3) uint8 from a DecodedVideo's (T, 3, H, W) tensor."""
    return np.ascontiguousarray(video.frames.permute(0, 2, 3, 1).numpy())


def video_frames_data_uri(video: Any, fmt: str = "png", encoders: Executor | None = None) -> str:
    """vLLM's pre-sampled video form: data:video/jpeg;base64,<frame>,<frame>,...

    The frames are encoded on `encoders` (the engine's); without it, on a pool for this call."""
    frames = frames_hwc(video)

    def encode(frame: np.ndarray) -> str:
        return base64.b64encode(encode_image(Image.fromarray(frame), fmt)).decode("ascii")

    if encoders is None:
        with encoder_pool() as pool:
            return video_frames_data_uri(video, fmt, pool)
    return "data:video/jpeg;base64," + ",".join(encoders.map(encode, frames))


#: Largest denominator of the container's frame rate (AVI stores it as two 32-bit integers).
RATE_DENOMINATOR = 1 << 20


def frame_rate(fps: float) -> Fraction:
    """A rational rate for the container. Read back, it is the same double as `fps` when fps is
    a ratio of small integers (4, 2, 1.6, 1/3, 7.3, ...), else within a few units in the last
    place, which the processor's float32 second_per_grid_ts can't tell apart."""
    return Fraction(fps).limit_denominator(RATE_DENOMINATOR)


def lossless_video(video: Any) -> bytes:
    """The kept frames as an FFV1 (RGB, lossless) AVI file at the sampled frame rate.

    AVI keeps the rate as an exact fraction (Matroska rounds it to nanoseconds)."""
    import av

    frames = frames_hwc(video)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="avi") as container:
        stream = container.add_stream("ffv1", rate=frame_rate(video.sample_fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        stream.thread_type = "SLICE"
        stream.options = {"slices": "4", "level": "3"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def cosmos_video_part(video: Any) -> dict[str, Any]:
    """A video_url part our own server decodes back into exactly these frames."""
    height, width = int(video.frames.shape[2]), int(video.frames.shape[3])
    data = base64.b64encode(lossless_video(video)).decode("ascii")
    return {
        "url": f"data:video/x-msvideo;base64,{data}",
        "nframes": video.num_frames,
        "min_pixels": height * width,
        "max_pixels": height * width,
        "sampled_from": {
            "fps": video.fps,
            "frames_indices": [int(i) for i in video.frame_indices],
            "total_num_frames": video.clip_frames,
        },
    }
