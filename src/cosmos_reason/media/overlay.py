"""The `timestamp` media option: each sampled frame's time drawn into a black border below it.

This is the Cosmos-Reason1 repository's `--timestamp` (scripts/inference.py, its
cosmos_reason1_utils/vision.py `overlay_text`), which its maintainers suggest for questions
about when things happen: a 28-pixel black border is added under every frame, and the time
of the i-th sampled frame, f"{i / sampled_fps:.2f}s" (so the first kept frame is 0.00s, also
with video_start), is drawn in white DejaVu Sans Mono at 20 pixels, centred in the border
and alternately in the left and the right half of the width (one position per frame of a
temporal patch, so the two frames the encoder merges never overlap). As there, it is drawn
on the frames after qwen-vl-utils' sampling and resize: the frames grow by one row of
28-pixel tokens (H + 28 is still a multiple of 28, so the checkpoint's processor keeps
that size) and the video by width / 28 tokens per temporal patch (docs/media.md).

The font ships with the package (media/fonts/DejaVuSansMono.ttf, the copy matplotlib
bundles and the reference finds through matplotlib; the DejaVu license is beside it), so
every install draws the same pixels; tests/fixtures/timestamp_overlay holds frames drawn by
the reference's own function to check that. Two of its input quirks are not copied: it takes
float frames whose brightest value is at most 1 (a black clip) for 0-1 floats and scales them
by 255, and it refuses exactly 3 frames as an ambiguous shape; neither can be meant.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

#: The reference's OverlayConfig: border height, positions cycled through, font size and colour.
BORDER = 28
POSITIONS = 2
FONT_SIZE = 20
COLOR = "white"
FONT_FILE = Path(__file__).with_name("fonts") / "DejaVuSansMono.ttf"


@cache
def overlay_font() -> ImageFont.FreeTypeFont:
    """The packaged DejaVu Sans Mono at 20 px; OSError (one line) if the package lost it."""
    try:
        return ImageFont.truetype(str(FONT_FILE), FONT_SIZE)
    except OSError as exc:
        raise OSError(f"cannot read the timestamp font {FONT_FILE} ({exc}); reinstall cosmos-reason") from None


def timestamp_label(index: int, fps: float) -> str:
    """The text drawn under the index-th sampled frame."""
    return f"{index / fps:.2f}s"


def overlay_timestamps(frames: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, 3, H, W) uint8 frames -> (T, 3, H + 28, W) uint8 with each frame's time drawn below it."""
    count, _, height, width = frames.shape
    pictures = frames.permute(0, 2, 3, 1).numpy()
    out = np.empty((count, height + BORDER, width, 3), dtype=np.uint8)
    font = overlay_font()
    section = width // POSITIONS
    for i in range(count):
        framed = Image.new("RGB", (width, height + BORDER))  # black
        framed.paste(Image.fromarray(pictures[i]), (0, 0))
        draw = ImageDraw.Draw(framed)
        text = timestamp_label(i, fps)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left, bottom - top
        centre = (i % POSITIONS) * section + section // 2
        x = max(0, min(centre - text_w // 2, width - text_w))
        y = height + (BORDER - text_h) // 2
        draw.text((x, y), text, fill=COLOR, font=font)
        out[i] = np.asarray(framed)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
