"""Small JPEG previews of an item: an image's thumbnail, or a few frames of a video.

Videos go through the project's own decoder (media.video.load_video, PyAV), asked for a few
evenly spaced frames at its smallest size, so a preview shows what the decoder reads (rotation
applied) without decoding the whole clip at full size. A file that is gone, unreadable or not
media has no preview: `previews` says why instead of raising.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass

from PIL import Image, ImageOps

THUMB_SIDE = 160  # longest side of a preview, pixels
VIDEO_FRAMES = 4  # an even count: the decoder samples frames in pairs
JPEG_QUALITY = 70


@dataclass
class Previews:
    frames: list[bytes]  # JPEG bytes, in time order
    kind: str | None  # image | video | None when unknown
    problem: str | None = None  # why there are no frames: "missing", or what went wrong


def previews(path: str, kind: str | None, side: int = THUMB_SIDE) -> Previews:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO (it would block) or a device
            return Previews([], kind, "not a regular file")
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return Previews([], kind, "missing")
    except OSError as exc:
        return Previews([], kind, f"unreadable: {exc.strerror or exc}")
    kind = kind or _sniff(data)
    try:
        if kind == "image":
            return Previews([_jpeg(Image.open(io.BytesIO(data)), side)], kind)
        if kind == "video":
            return Previews(_video_frames(data, side), kind)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is "no preview", never a crash
        return Previews([], kind, f"cannot decode: {str(exc)[:120]}")
    return Previews([], kind, "not an image or video")


def _sniff(data: bytes) -> str | None:
    from ..media.sniff import classify_bytes

    return classify_bytes(data)


def _jpeg(image: Image.Image, side: int) -> bytes:
    image = ImageOps.exif_transpose(image)
    image.thumbnail((side, side))
    if image.mode != "RGB":
        image = image.convert("RGBA").convert("RGB") if "A" in image.mode else image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _video_frames(data: bytes, side: int) -> list[bytes]:
    from ..families.reason1.constants import GEOMETRY
    from ..media.options import MediaOptions
    from ..media.video import load_video

    smallest = 4 * GEOMETRY.token_pixels  # the decoder's floor is min_pixels; ask for little
    options = MediaOptions(
        nframes=VIDEO_FRAMES, min_frames=2, min_pixels=smallest, max_pixels=max(smallest, side * side)
    )
    video = load_video(data, options, geometry=GEOMETRY)
    frames = video.frames.permute(0, 2, 3, 1).contiguous().numpy()
    return [_jpeg(Image.fromarray(frame), side) for frame in frames]
