"""The bicubic antialiased resize kernel against torchvision's: equal but for rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as tvF

from cosmos_reason.media.resize import resize_bicubic_aa


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((720, 1280), (560, 1008)),
        ((720, 1280), (224, 420)),
        ((131, 97), (392, 280)),
        ((48, 64), (56, 56)),
        ((1000, 320), (644, 196)),
        ((90, 160), (90, 112)),
        ((90, 160), (56, 160)),
        ((5, 7), (28, 28)),
        ((3, 300), (28, 2800)),
    ],
)
def test_resize_matches_torchvision_within_rounding(source: tuple[int, int], target: tuple[int, int]) -> None:
    rgb = np.random.default_rng(sum(source)).integers(0, 256, (*source, 3), dtype=np.uint8)
    expected = tvF.resize(
        torch.from_numpy(rgb).permute(2, 0, 1), list(target), interpolation=InterpolationMode.BICUBIC, antialias=True
    ).numpy()
    got = resize_bicubic_aa(rgb, *target)
    assert got.shape == (3, *target)
    diff = np.abs(got.astype(np.int16) - expected)
    assert diff.max() <= 1  # a sum within float rounding of .5 may round the other way
    assert (diff > 0).mean() < 1e-3


def test_resize_of_a_real_frame_differs_from_torchvision_only_by_rounding() -> None:
    """Ramps, flat areas and edges at the 60 s benchmark clip's sizes: drawn pictures hit exact
    .5 sums (which either order may round either way) far more often than camera frames."""
    yy, xx = np.mgrid[0:720, 0:1280]
    rgb = np.stack([(xx * 255 // 1279), (yy * 255 // 719), ((xx // 40 + yy // 40) % 2) * 230], -1).astype(np.uint8)
    expected = tvF.resize(
        torch.from_numpy(rgb).permute(2, 0, 1), [224, 420], interpolation=InterpolationMode.BICUBIC, antialias=True
    ).numpy()
    got = resize_bicubic_aa(rgb, 224, 420)
    diff = np.abs(got.astype(np.int16) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-2
