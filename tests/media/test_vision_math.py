"""vision_math against qwen-vl-utils 0.0.14 itself, on grids of inputs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.media import vision_math as vm
from cosmos_reason.media.errors import MediaError

G = REASON1.geometry  # patch 14, merge 2: the token side is 28 pixels

qvu = pytest.importorskip("qwen_vl_utils.vision_process")

SIZES = [
    (720, 1280),
    (480, 640),
    (1000, 320),
    (131, 97),
    (1, 1),
    (28, 28),
    (14, 14),
    (42, 42),
    (56, 8000),
    (1080, 1920),
    (2160, 3840),
    (224, 420),
    (333, 777),
    (27, 5000),
    (4000, 3000),
    (57, 85),
    (10, 2000),
]
PIXEL_LIMITS = [
    (None, None),
    (3136, 12845056),
    (100352, 602112),
    (100352, 105369),
    (4 * 784, 64 * 784),
    (784, 784 * 1024),
    (256 * 28 * 28, 1280 * 28 * 28),
    (100352, 133802.66666666666),
]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize(("min_pixels", "max_pixels"), PIXEL_LIMITS)
def test_smart_resize_matches_reference(
    height: int, width: int, min_pixels: float | None, max_pixels: float | None
) -> None:
    try:
        expected = qvu.smart_resize(height, width, 28, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError:
        with pytest.raises(MediaError):
            vm.smart_resize(height, width, 28, min_pixels=min_pixels, max_pixels=max_pixels)
        return
    if 0 in expected:  # the reference returns an empty size; we refuse it up front
        with pytest.raises(MediaError, match="too elongated"):
            vm.smart_resize(height, width, 28, min_pixels=min_pixels, max_pixels=max_pixels)
        return
    assert vm.smart_resize(height, width, 28, min_pixels=min_pixels, max_pixels=max_pixels) == expected


def test_smart_resize_results_are_multiples_within_limits() -> None:
    for height, width in itertools.product([100, 333, 720, 1080], [97, 640, 1280, 1920]):
        h, w = vm.smart_resize(height, width, 28, min_pixels=3136, max_pixels=602112)
        assert h % 28 == 0 and w % 28 == 0
        assert 3136 <= h * w <= 602112


def test_smart_resize_errors() -> None:
    with pytest.raises(MediaError, match="aspect ratio"):
        vm.smart_resize(10, 2500, 28)
    with pytest.raises(MediaError, match="min_pixels"):
        vm.smart_resize(100, 100, 28, min_pixels=5000, max_pixels=4000)
    with pytest.raises(MediaError, match="empty size"):
        vm.smart_resize(0, 100, 28)


def test_ties_round_to_even_like_python() -> None:
    # 42 / 28 = 1.5 rounds to 2 and 14 / 28 = 0.5 rounds to 0 (then clamps to one factor).
    assert vm.round_by_factor(42, 28) == 56
    assert vm.round_by_factor(70, 28) == 56
    assert vm.smart_resize(14, 14, 28, min_pixels=1, max_pixels=10**9) == (28, 28)


NFRAME_CASES = [
    # total_frames, video_fps, kwargs
    (90, 30.0, {"fps": 4}),
    (24, 24.0, {"fps": 4}),
    (25, 25.0, {"fps": 4}),
    (120, 60.0, {"fps": 4}),
    (3, 30.0, {"fps": 4}),
    (2, 30.0, {"fps": 4}),
    (360, 30.0, {"fps": 4}),
    (1800, 30.0, {"fps": 4}),
    (100000, 30.0, {"fps": 4}),
    (300, 29.97, {"fps": 2}),
    (61, 30.0, {"fps": 16}),
    (17, 8.5, {"fps": 4}),
    (90, 30.0, {"nframes": 6}),
    (90, 30.0, {"nframes": 7}),
    (90, 30.0, {"nframes": 1}),
    (90, 30.0, {"nframes": 91}),
    (90, 30.0, {"nframes": 90}),
    (90, 30.0, {"fps": 4, "min_frames": 9, "max_frames": 31}),
    (10, 30.0, {"fps": 4, "min_frames": 4, "max_frames": 768}),
    (5000, 30.0, {"fps": 30, "max_frames": 768}),
]


@pytest.mark.parametrize(("total", "video_fps", "kwargs"), NFRAME_CASES)
def test_smart_nframes_matches_reference(total: int, video_fps: float, kwargs: dict) -> None:
    try:
        expected = qvu.smart_nframes(dict(kwargs), total_frames=total, video_fps=video_fps)
    except ValueError:
        with pytest.raises(MediaError, match="cannot sample"):
            vm.smart_nframes(total, video_fps, frame_factor=2, **_our_kwargs(kwargs))
        return
    assert vm.smart_nframes(total, video_fps, frame_factor=2, **_our_kwargs(kwargs)) == expected


def _our_kwargs(kwargs: dict) -> dict:
    ours = dict(kwargs)
    if "nframes" in ours:
        ours["fps"] = None
    return ours


RANGE_CASES = [
    (90, 30.0, None, None),
    (90, 30.0, 0.5, None),
    (90, 30.0, None, 2.0),
    (90, 30.0, 0.51, 2.49),
    (90, 30.0, -3, 99),
    (100, 25.0, 1.0, 3.2),
    (300, 29.97, 2.002, 7.3),
    (90, 30.0, 2.5, 2.5),
    (90, 30.0, 3.0, 1.0),
    (90, 30.0, 5.0, None),
]


@pytest.mark.parametrize(("total", "video_fps", "start", "end"), RANGE_CASES)
def test_frame_range_matches_reference(total: int, video_fps: float, start: float | None, end: float | None) -> None:
    ele = {k: v for k, v in (("video_start", start), ("video_end", end)) if v is not None}
    try:
        expected = qvu.calculate_video_frame_range(ele, total, video_fps)
    except ValueError:
        with pytest.raises(MediaError, match="select no frames"):
            vm.frame_range(total, video_fps, start, end)
        return
    assert vm.frame_range(total, video_fps, start, end) == expected


@pytest.mark.parametrize(
    ("start", "end", "n"),
    [(0, 89, 12), (0, 1799, 240), (15, 80, 8), (0, 359, 48), (0, 3, 4), (7, 1000, 768), (0, 1, 2)],
)
def test_sample_indices_match_reference_linspace(start: int, end: int, n: int) -> None:
    expected = torch.linspace(start, end, n).round().long().tolist()
    got = vm.sample_indices(start, end, n)
    assert got == expected
    assert len(set(got)) == len(got)  # n <= frame count: never a repeated frame


@pytest.mark.parametrize("nframes", [2, 4, 12, 40, 48, 96, 192, 240, 768])
@pytest.mark.parametrize(("height", "width"), [(720, 1280), (480, 640), (1000, 320), (131, 97), (360, 640)])
@pytest.mark.parametrize(
    "ele",
    [
        {"total_pixels": 6422528},
        {},
        {"total_pixels": 6422528, "min_pixels": 3136},
        {"total_pixels": 6422528, "max_pixels": 200704},
        {"total_pixels": 20 * 784, "min_pixels": 16 * 784},
    ],
)
def test_video_frame_size_matches_fetch_video(nframes: int, height: int, width: int, ele: dict) -> None:
    """The size arithmetic of qwen-vl-utils' fetch_video (restated from its source)."""
    min_pixels = ele.get("min_pixels", qvu.VIDEO_MIN_TOKEN_NUM * 28 * 28)
    total_pixels = ele.get("total_pixels", qvu.MODEL_SEQ_LEN * 28 * 28 * 0.9)
    max_pixels = max(
        min(qvu.VIDEO_MAX_TOKEN_NUM * 28 * 28, total_pixels / nframes * qvu.FRAME_FACTOR), int(min_pixels * 1.05)
    )
    max_pixels = min(ele.get("max_pixels", max_pixels), max_pixels)
    expected = qvu.smart_resize(height, width, 28, min_pixels=min_pixels, max_pixels=max_pixels)
    got = vm.video_frame_size(
        height,
        width,
        nframes,
        G,
        min_pixels=ele.get("min_pixels"),
        max_pixels=ele.get("max_pixels"),
        total_pixels=ele.get("total_pixels"),
    )
    assert got == expected


def test_budget_floor_can_undershoot_min_pixels_like_the_reference() -> None:
    # 240 frames of 720p under 6422528 pixels: each frame's share is below 1.05 x min,
    # so the floor wins and smart_resize floors below min_pixels (224x420), as observed.
    assert vm.video_frame_pixel_limits(240, G, total_pixels=6422528) == (100352, int(100352 * 1.05))
    assert vm.video_frame_size(720, 1280, 240, G, total_pixels=6422528) == (224, 420)


def test_constants_match_reference() -> None:
    assert (vm.IMAGE_MIN_TOKENS, vm.IMAGE_MAX_TOKENS) == (qvu.IMAGE_MIN_TOKEN_NUM, qvu.IMAGE_MAX_TOKEN_NUM)
    assert (vm.VIDEO_FRAME_MIN_TOKENS, vm.VIDEO_FRAME_MAX_TOKENS) == (qvu.VIDEO_MIN_TOKEN_NUM, qvu.VIDEO_MAX_TOKEN_NUM)
    assert G.token_side == 28  # qwen-vl-utils image_patch_size 14 (its default) x merge 2
    assert (G.temporal_patch_size, vm.FPS_MIN_FRAMES, vm.FPS_MAX_FRAMES) == (
        qvu.FRAME_FACTOR,
        qvu.FPS_MIN_FRAMES,
        qvu.FPS_MAX_FRAMES,
    )
    assert math.isclose(vm.DEFAULT_VIDEO_TOTAL_TOKENS, qvu.MODEL_SEQ_LEN * 0.9)


def test_num_tokens() -> None:
    assert vm.num_tokens(240, 224, 420, G) == 14400  # 120 temporal patches of 8 x 15 tokens
    assert vm.image_size(720, 1280, G) == (728, 1288)
