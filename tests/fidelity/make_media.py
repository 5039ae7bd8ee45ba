"""Write the fixed media of the Reason2 fidelity cases into tests/fidelity/media/ (committed).

Run once with the project's venv (PyAV, Pillow, numpy); the files are committed so that the
reference (tests/fidelity/reference_reason2.py, in .venv-ref) and our pipeline read the same
bytes on every machine, whatever encoder build is installed later:

    .venv/bin/python -m tests.fidelity.make_media

Pictures have odd sides on purpose (not multiples of the 32-pixel token side), so every
resize step is exercised; the clips are H.264 with B-frames (some never referenced), as a
camera or an encoder's default preset produces.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.media_factory import make_video

MEDIA = Path(__file__).resolve().parent / "media"


def picture(width: int, height: int, seed: int) -> Image.Image:
    """Smooth gradients, a few hard edges and mild noise: what photos have, in few bytes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin(xx / (7 + seed)) * np.cos(yy / 11)
    green = 255 * xx / max(width - 1, 1)
    blue = np.where((xx // 24 + yy // 24) % 2 == 0, 40, 210).astype(np.float32)
    pixels = np.stack([red, green, blue], -1) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


#: x264's veryfast preset (B-frames, some unreferenced) at a low quality: small files to commit.
SMALL = {"preset": "veryfast", "crf": "40"}

FILES = {
    "photo.jpg": lambda: encoded(picture(640, 480, 1), "JPEG", quality=85),
    "wide.png": lambda: encoded(picture(517, 131, 2), "PNG"),
    "tall.png": lambda: encoded(picture(90, 700, 3), "PNG"),
    "tiny.png": lambda: encoded(picture(100, 70, 4), "PNG"),
    # 4 s at 24 fps, 640x480; 60 s at 15 fps, 320x180 (16:9, 180 not a multiple of 32);
    # 3 s at 25 fps, portrait 200x360.
    "short.mp4": lambda: make_video(640, 480, fps=24, seconds=4, codec_options=SMALL),
    "long.mp4": lambda: make_video(320, 180, fps=15, seconds=60, codec_options=SMALL),
    "portrait.mp4": lambda: make_video(200, 360, fps=25, seconds=3, codec_options=SMALL),
}


def main() -> None:
    MEDIA.mkdir(exist_ok=True)
    for name, make in FILES.items():
        data = make()
        (MEDIA / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
