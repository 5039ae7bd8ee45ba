"""The `timestamp` overlay draws exactly what the Cosmos-Reason1 repository's `--timestamp` draws.

The goldens were drawn by that repository's own overlay_text_on_tensor
(tests/fixtures/timestamp_overlay/make_golden.py says from which commit and how).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cosmos_reason.media.overlay import BORDER, overlay_timestamps

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "timestamp_overlay"
CASES = json.loads((GOLDEN / "cases.json").read_text())


def stacked(path: Path, count: int) -> torch.Tensor:
    """A PNG of `count` frames stacked top to bottom -> (T, 3, H, W) uint8."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return torch.from_numpy(pixels.reshape(count, -1, pixels.shape[1], 3).copy()).permute(0, 3, 1, 2)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_overlay_matches_the_reference_pixel_for_pixel(case):
    frames = stacked(GOLDEN / f"{case['name']}_input.png", case["frames"])
    golden = stacked(GOLDEN / f"{case['name']}_golden.png", case["frames"])
    ours = overlay_timestamps(frames, case["fps"])
    assert ours.dtype == torch.uint8
    assert ours.shape == (case["frames"], 3, case["height"] + BORDER, case["width"])
    assert torch.equal(ours, golden)


def test_the_frame_is_kept_and_the_text_alternates_sides():
    frames = torch.full((4, 3, 56, 196), 90, dtype=torch.uint8)
    out = overlay_timestamps(frames, 2.0)
    assert torch.equal(out[:, :, :56], frames)  # the picture itself is untouched
    border = out[:, :, 56:]
    lit = (border > 0).any(dim=1).any(dim=1)  # (T, W): columns with text
    half = 196 // 2
    for i in range(4):
        left, right = bool(lit[i, :half].any()), bool(lit[i, half:].any())
        assert (left, right) == ((True, False) if i % 2 == 0 else (False, True))
    # a different time draws different text
    assert not torch.equal(border[0], border[2])
