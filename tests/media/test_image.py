"""load_image: decoding by content, orientation, transparency, resizing and clear errors."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from cosmos_reason.media.errors import MediaError
from tests.media_factory import load_image, png_bytes


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) % 256], -1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_formats_decode_to_rgb(fmt: str) -> None:
    image = load_image(encode(gradient(), fmt))
    assert image.mode == "RGB"
    assert image.size == (64, 48)


def test_png_exact_pixels() -> None:
    source = gradient()
    assert np.array_equal(np.asarray(load_image(encode(source, "PNG"))), np.asarray(source))


def test_declared_type_is_irrelevant() -> None:
    # load_image takes no mime type at all: a PNG labelled image/jpeg decodes as the PNG it is.
    png = encode(gradient(), "PNG")
    assert png[:4] == b"\x89PNG"
    assert np.array_equal(np.asarray(load_image(png)), np.asarray(gradient()))


def test_grayscale_and_1bit() -> None:
    gray = Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8), "L")
    out = np.asarray(load_image(encode(gray, "PNG")))
    assert out.shape == (48, 64, 3)
    assert np.array_equal(out[..., 0], np.asarray(gray)) and np.array_equal(out[..., 0], out[..., 2])
    bilevel = gray.convert("1")
    assert load_image(encode(bilevel, "PNG")).mode == "RGB"


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    wide = Image.fromarray((np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16))
    out = np.asarray(load_image(encode(wide, "PNG")))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert 100 < out[24, 32, 0] < 160  # mid-gray, not clipped to white


def test_palette_image() -> None:
    palette = gradient().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = load_image(encode(palette, "PNG"))
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(palette.convert("RGB")))


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    out = np.asarray(load_image(encode(cmyk, "JPEG", quality=95)))
    red = out[15, 20].astype(int)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), color) for color in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(load_image(data))
    assert tuple(out[5, 10]) == (255, 0, 0)


def test_webp_lossless_alpha() -> None:
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    out = np.asarray(load_image(encode(rgba, "WEBP", lossless=True)))
    assert (out == 255).all()


# ---------------------------------------------------------------- transparency


def test_rgba_flattened_on_white() -> None:
    pixels = np.zeros((10, 20, 4), np.uint8)
    pixels[:, :10] = (255, 0, 0, 255)  # opaque red
    pixels[:, 10:] = (0, 0, 255, 0)  # fully transparent blue
    pixels[0, 0] = (0, 0, 0, 128)  # half-transparent black
    out = np.asarray(load_image(encode(Image.fromarray(pixels, "RGBA"), "PNG")))
    assert tuple(out[5, 5]) == (255, 0, 0)
    assert tuple(out[5, 15]) == (255, 255, 255)
    assert all(abs(int(v) - 127) <= 1 for v in out[0, 0])


def test_rgba_matches_qwen_vl_utils_to_rgb() -> None:
    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    ours = np.asarray(load_image(encode(rgba, "PNG")))
    assert np.array_equal(ours, np.asarray(qvu.to_rgb(rgba)))


def test_la_and_palette_transparency_on_white() -> None:
    la = Image.fromarray(np.stack([np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)], -1), "LA")
    assert (np.asarray(load_image(encode(la, "PNG"))) == 255).all()
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    assert (np.asarray(load_image(encode(palette, "PNG", transparency=0))) == 255).all()
    assert (np.asarray(load_image(encode(palette, "GIF", transparency=0))) == 255).all()


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (1, (30, 20), (0, 0)),
        (3, (30, 20), (-1, -1)),
        (6, (20, 30), (0, -1)),
        (8, (20, 30), (-1, 0)),
        (2, (30, 20), (0, -1)),
    ],
)
def test_exif_orientation_applied(orientation: int, size: tuple[int, int], corner: tuple[int, int]) -> None:
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:4, :4] = 255  # white mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image(encode(Image.fromarray(pixels), "JPEG", exif=exif, quality=95))
    assert out.size == size
    arr = np.asarray(out)
    row = 1 if corner[0] == 0 else arr.shape[0] - 2
    col = 1 if corner[1] == 0 else arr.shape[1] - 2
    assert arr[row, col].min() > 200


def test_malformed_exif_is_ignored() -> None:
    data = encode(gradient(), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    assert load_image(data).size == (64, 48)


# ---------------------------------------------------------------- resizing


@pytest.mark.parametrize(
    ("size", "min_pixels", "max_pixels"),
    [
        ((1280, 720), 3136, 12845056),
        ((97, 131), 3136, 12845056),
        ((4000, 300), 3136, 200704),
        ((20, 20), 100352, 12845056),
        ((640, 480), None, 50176),
    ],
)
def test_smart_resize_like_fetch_image(size: tuple[int, int], min_pixels: int | None, max_pixels: int | None) -> None:
    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    source = gradient(*size)
    ele: dict = {"image": source}
    if min_pixels is not None:
        ele["min_pixels"] = min_pixels
    if max_pixels is not None:
        ele["max_pixels"] = max_pixels
    expected = qvu.fetch_image(ele)
    ours = load_image(encode(source, "PNG"), min_pixels=min_pixels, max_pixels=max_pixels)
    assert ours.size == expected.size
    assert np.array_equal(np.asarray(ours), np.asarray(expected))


def test_no_resize_without_limits() -> None:
    assert load_image(encode(gradient(97, 131), "PNG")).size == (97, 131)


def test_extreme_aspect_ratio_with_resize_is_refused() -> None:
    with pytest.raises(MediaError, match="aspect ratio"):
        load_image(encode(gradient(2100, 10), "PNG"), max_pixels=12845056)


# ---------------------------------------------------------------- errors


def test_empty_data() -> None:
    with pytest.raises(MediaError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("data", [b"hello world, not an image", bytes(range(256)) * 4, b"\x00" * 100, b"%PDF-1.4\n"])
def test_garbage(data: bytes) -> None:
    with pytest.raises(MediaError, match="not a recognized image format"):
        load_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_truncated(fmt: str) -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(MediaError, match="could not be decoded|not a recognized"):
        load_image(data[: len(data) // 2])


def test_truncated_png_message() -> None:
    data = encode(gradient(), "PNG")
    with pytest.raises(MediaError) as info:
        load_image(data[:-30])
    assert str(info.value).startswith("image could not be decoded")


def test_bomb_refused_from_header_before_decoding() -> None:
    # A PNG header claiming 40000x40000 pixels followed by a tiny (invalid) body: the
    # size check must fire from the header alone, before any pixel data is read.
    data = _png_header_only(40000, 40000)
    with pytest.raises(MediaError, match=r"40000x40000 pixels, more than the 89478485 allowed|1600000000 pixels"):
        load_image(data)


def test_custom_pixel_limit() -> None:
    data = encode(gradient(64, 48), "PNG")
    with pytest.raises(MediaError, match="64x48 pixels, more than the 1000 allowed"):
        load_image(data, max_image_pixels=1000)
    assert load_image(data, max_image_pixels=64 * 48).size == (64, 48)


def test_error_is_value_error() -> None:
    assert issubclass(MediaError, ValueError)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(10000, 10000), (9500, 9500)])
def test_bomb_between_pillow_warning_and_error(width: int, height: int) -> None:
    # Above Pillow's limit but below twice it Pillow only warns (an error under pytest's
    # warning filter): either way we refuse with our message.
    with pytest.raises(MediaError, match="more than the 89478485 allowed"):
        load_image(_png_header_only(width, height))


# ---------------------------------------------------------------- size limits: tokens, before resizing


def test_image_min_pixels_beyond_the_context_is_refused_before_resizing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the image was resized")

    monkeypatch.setattr(Image.Image, "resize", refuse)
    with pytest.raises(
        MediaError, match=r"image would take \d+ vision tokens .* more than the model's context of 4096"
    ):
        load_image(png_bytes(64, 48), min_pixels=100_000_000, max_pixels=200_000_000, max_tokens=4096)


def test_image_resize_within_the_context_is_served():
    image = load_image(png_bytes(64, 48), min_pixels=200_000, max_pixels=300_000, max_tokens=4096)
    assert image.width * image.height >= 200_000


# ---------------------------------------------------------------- size limits: aspect ratio (200:1)


@pytest.mark.parametrize("size", [(1, 300), (300, 1), (2, 500)])
def test_an_image_beyond_200_to_1_is_refused_naming_the_aspect_ratio(size):
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, format="PNG")
    with pytest.raises(MediaError, match=r"aspect ratio is \d+\.\d:1 .*at most 200:1"):
        load_image(buffer.getvalue())


def test_an_image_at_200_to_1_is_served():
    buffer = io.BytesIO()
    Image.new("RGB", (1, 200), (1, 2, 3)).save(buffer, format="PNG")
    assert load_image(buffer.getvalue()).size == (1, 200)
