"""Small test media made on the spot: no files in the repo, no network."""

from __future__ import annotations

import base64
import io
import os
import tempfile

import numpy as np
from PIL import Image


def png_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4_bytes(seconds: float = 2.0, fps: int = 10, width: int = 64, height: int = 48) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.full((height, width, 3), (i * 9) % 256, dtype=np.uint8)
            frame[:, : (i * 3) % width] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def flat_gray_jpeg(width: int, height: int) -> bytes:
    """A valid baseline grayscale JPEG of one flat grey at any size, made without pixels.

    Its Huffman tables have a single one-bit code, so each 8x8 block is two zero bits
    ("DC unchanged", "end of block"): a 16000x16000 picture is 2 MB of zeros, which
    a decoder still has to decode into 256 MB.
    """
    import struct

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    one_code = bytes([1] + [0] * 15)
    blocks = -(-width // 8) * -(-height // 8)
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_code + b"\x00"),
            segment(0xC4, b"\x10" + one_code + b"\x00"),
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bytes(-(-blocks * 2 // 8)),
            b"\xff\xd9",
        ]
    )


def mjpeg_mkv(picture: bytes, declared: tuple[int, int], frames: int = 2, fps: int = 2) -> bytes:
    """A Matroska MJPEG clip repeating one JPEG, its header declaring `declared` (width, height)."""
    from fractions import Fraction

    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *declared, "yuvj420p"
        for i in range(frames):
            packet = av.Packet(picture)
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, fps)
            packet.stream = stream
            container.mux(packet)
    return buffer.getvalue()


def make_video(
    width: int = 64,
    height: int = 48,
    fps: int = 30,
    seconds: float = 1.0,
    *,
    codec: str = "libx264",
    fmt: str = "mp4",
    codec_options: dict[str, str] | None = None,
    rotation: int | None = None,
    faststart: bool = False,
) -> bytes:
    """A clip with moving gradients, a checkerboard and a moving box (so frames differ).

    libx264 uses the 'veryfast' preset (B-frames, some of them non-reference) unless
    codec_options say otherwise.
    """
    import av

    suffix = {"matroska": ".mkv", "webm": ".webm", "avi": ".avi"}.get(fmt, ".mp4")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clip" + suffix)
        options = {"movflags": "faststart"} if faststart else {}
        with av.open(path, mode="w", format=fmt, options=options) as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, _pixel_format(codec, width, height)
            stream.options = (
                codec_options if codec_options is not None else ({"preset": "veryfast"} if codec == "libx264" else {})
            )
            if rotation is not None:
                stream.set_display_rotation(rotation)
            yy, xx = np.mgrid[0:height, 0:width]
            for i in range(round(fps * seconds)):
                pixels = np.stack(
                    [(xx * 3 + 5 * i) % 256, (yy * 2 + 3 * i) % 256, ((xx // 8 + yy // 8 + i // 4) % 2) * 220],
                    -1,
                ).astype(np.uint8)
                x0 = (3 * i) % max(1, width - 8)
                pixels[2:10, x0 : x0 + 8] = (255, 255, 0)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        with open(path, "rb") as handle:
            return handle.read()


def _pixel_format(codec: str, width: int, height: int) -> str:
    if codec == "mjpeg":
        return "yuvj420p"
    return "yuv444p" if width % 2 or height % 2 else "yuv420p"  # 4:2:0 needs even sides


# ---- the media package bound to Cosmos-Reason1's encoder and defaults ---------------------
# The media package takes the model family's geometry and video defaults as arguments; most
# media tests check Reason1's numbers (qwen-vl-utils with patch 14), so they call these.


def reason1_video(**values):
    """Video options as a Reason1 request gets them: `values` over the family's defaults, over qwen-vl-utils'."""
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.options import QWEN_VL_UTILS, MediaOptions

    return MediaOptions(**values).over(REASON1.video.over(QWEN_VL_UTILS))


def load_video(data, options=None, **kwargs):
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.video import load_video as load

    return load(data, options if options is not None else reason1_video(), geometry=REASON1.geometry, **kwargs)


def load_image(data, **kwargs):
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.image import load_image as load

    return load(data, geometry=REASON1.geometry, **kwargs)


def media_loader(settings=None, **kwargs):
    """A MediaLoader for Reason1 (settings: MediaSettings, default ones when None)."""
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.loader import MediaLoader
    from cosmos_reason.media.settings import MediaSettings

    return MediaLoader(settings or MediaSettings(), geometry=REASON1.geometry, video_defaults=REASON1.video, **kwargs)
