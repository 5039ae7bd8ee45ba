"""Image decoding: bytes in, an RGB Pillow image ready for the Qwen2.5-VL processor out."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MediaError
from .options import DEFAULT_MAX_IMAGE_PIXELS
from .vision_math import VisionGeometry, check_aspect_ratio, image_size, num_tokens

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def load_image(
    data: bytes,
    *,
    geometry: VisionGeometry,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_tokens: int | None = None,
) -> Image.Image:
    """Decode any Pillow-readable image and return it as RGB.

    The format is sniffed from the bytes (a declared mime type is irrelevant). EXIF
    orientation is applied, transparency is flattened onto white, and when min_pixels or
    max_pixels is given the image is smart-resized (bicubic) as qwen-vl-utils'
    fetch_image does. Raises MediaError for empty, non-image, truncated or oversized data,
    an aspect ratio beyond the model's 200:1, and a min_pixels/max_pixels that would need
    more than `max_tokens` vision tokens; all checked from the header, before any pixel
    is decoded or resized.
    """
    if not data:
        raise MediaError("image data is empty")
    image = _open(data, max_image_pixels)
    try:
        _check_size(image, max_image_pixels)
        _check_output(image, geometry, min_pixels, max_pixels, max_tokens)
        _decode(image)
        rgb = _to_rgb(_apply_orientation(image))
    finally:
        image.close()
    if min_pixels is not None or max_pixels is not None:
        height, width = image_size(rgb.height, rgb.width, geometry, min_pixels=min_pixels, max_pixels=max_pixels)
        rgb = rgb.resize((width, height), Image.Resampling.BICUBIC)
    return rgb


def _open(data: bytes, max_image_pixels: int) -> Image.Image:
    """Identify the format and read the header only (Pillow opens lazily)."""
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise MediaError("data is not a recognized image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own bomb check runs inside open(); report it in our words.
        match = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{match.group(1)} pixels" if match else "too many pixels"
        raise MediaError(f"image has {size}, more than the {max_image_pixels} allowed") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"image could not be decoded: {_reason(exc)}") from None


def _check_size(image: Image.Image, max_image_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaError(f"image has an empty size ({width}x{height} pixels)")
    if width * height > max_image_pixels:
        raise MediaError(f"image is {width}x{height} pixels, more than the {max_image_pixels} allowed")


def _check_output(
    image: Image.Image, geometry: VisionGeometry, min_pixels: int | None, max_pixels: int | None, max_tokens: int | None
) -> None:
    """The model's own limits, from the header: aspect ratio, and tokens when we resize.

    Without min_pixels/max_pixels the checkpoint's processor sizes the image within its
    own bounds (the prompt-length check then counts it); with them, the size we would
    resize to is known now, so a request for more tokens than the context is refused
    before the resize allocates it.
    """
    width, height = image.size
    check_aspect_ratio(height, width, "image")
    if max_tokens is None or (min_pixels is None and max_pixels is None):
        return
    new_height, new_width = image_size(height, width, geometry, min_pixels=min_pixels, max_pixels=max_pixels)
    tokens = num_tokens(1, new_height, new_width, geometry)
    if tokens > max_tokens:
        raise MediaError(
            f"image would take {tokens} vision tokens ({new_width}x{new_height} pixels after resizing), more than "
            f"the model's context of {max_tokens}; lower min_pixels or max_pixels"
        )


def _decode(image: Image.Image) -> None:
    """Decode the pixels now, so that bad data fails here with a clear message."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise MediaError(f"image could not be decoded: {_reason(exc, image.format)}") from None


def _reason(exc: BaseException, fmt: str | None = None) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"truncated {fmt or 'image'} data"
    return text


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not reject a good picture
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white (the reference's to_rgb for RGBA)."""
    if image.mode in _WIDE_GRAY_MODES:
        # Pillow's convert clips 16-bit gray at 255; scale it down instead.
        wide = np.asarray(image, dtype=np.float64)
        scale = 257.0 if wide.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(np.rint(wide / scale), 0, 255).astype(np.uint8), "L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
