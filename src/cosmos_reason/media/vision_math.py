"""Size and frame-count arithmetic of Qwen-VL vision encoders, as qwen-vl-utils 0.0.14 does it.

The encoder's geometry (patch size, merge size, frames per temporal patch) is the model
family's (families/<family>/constants.py) and is passed in; the token budgets below are
qwen-vl-utils' own, the same for every family.

Everything here is pure arithmetic so that the server can predict token counts without
decoding pixels, and so that our decoder picks exactly the frames and sizes the reference
(`qwen_vl_utils.process_vision_info`) picks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import MediaError

MAX_RATIO = 200
#: qwen-vl-utils' bounds, in vision tokens: an image's size, a video frame's size, and a
#: video's total budget when none is given (90% of a 128k-token context).
IMAGE_MIN_TOKENS, IMAGE_MAX_TOKENS = 4, 16384
VIDEO_FRAME_MIN_TOKENS, VIDEO_FRAME_MAX_TOKENS = 128, 768
DEFAULT_VIDEO_TOTAL_TOKENS = 128000 * 0.9
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768


@dataclass(frozen=True)
class VisionGeometry:
    """How a vision encoder cuts pictures: square patches merged `merge_size` x `merge_size`
    into one token, and `temporal_patch_size` video frames per temporal patch."""

    patch_size: int
    merge_size: int
    temporal_patch_size: int

    @property
    def token_side(self) -> int:
        """One visual token covers token_side x token_side pixels (the resize factor)."""
        return self.patch_size * self.merge_size

    @property
    def token_pixels(self) -> int:
        return self.token_side * self.token_side


def round_by_factor(number: float, factor: int) -> int:
    """Closest multiple of `factor` (Python's round: ties go to the even multiple)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def check_aspect_ratio(height: int, width: int, what: str = "media") -> None:
    """The model's limit on elongated pictures (the processor's 200:1)."""
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise MediaError(
            f"{what} aspect ratio is {ratio:.1f}:1 ({width}x{height} pixels); at most {MAX_RATIO}:1 is supported"
        )


def smart_resize(
    height: int,
    width: int,
    factor: int,
    min_pixels: float | None = None,
    max_pixels: float | None = None,
) -> tuple[int, int]:
    """(height, width) rounded to multiples of `factor` with the area in [min, max] pixels
    (default: qwen-vl-utils' image bounds, 4 to 16384 tokens of factor x factor pixels).

    Same results as qwen-vl-utils' smart_resize (which differs from transformers' copy
    in clamping each side to at least one factor before the area checks).
    """
    max_pixels = IMAGE_MAX_TOKENS * factor * factor if max_pixels is None else max_pixels
    min_pixels = IMAGE_MIN_TOKENS * factor * factor if min_pixels is None else min_pixels
    if max_pixels < min_pixels:
        raise MediaError(f"max_pixels ({max_pixels}) must not be smaller than min_pixels ({min_pixels})")
    if height <= 0 or width <= 0:
        raise MediaError(f"media has an empty size ({width}x{height} pixels)")
    check_aspect_ratio(height, width)
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    if h_bar == 0 or w_bar == 0:  # the reference would fail later, resizing to nothing
        raise MediaError(f"media of {width}x{height} pixels is too elongated to fit in {max_pixels:g} pixels")
    return h_bar, w_bar


def frame_range(
    total_frames: int,
    video_fps: float,
    video_start: float | None = None,
    video_end: float | None = None,
) -> tuple[int, int, int]:
    """(first, last, count) of the frames inside [video_start, video_end] seconds.

    The reference clamps both times to the video, starts at the first frame at or after
    the start and ends at the last frame at or before the end.
    """
    if video_fps <= 0:
        raise MediaError("video has no usable frame rate")
    if total_frames <= 0:
        raise MediaError("video has no decodable frames")
    if video_start is None and video_end is None:
        return 0, total_frames - 1, total_frames
    max_duration = total_frames / video_fps
    start_frame = 0
    if video_start is not None:
        start_frame = math.ceil(max(0.0, min(video_start, max_duration)) * video_fps)
    end_frame = total_frames - 1
    if video_end is not None:
        end_frame = min(math.floor(max(0.0, min(video_end, max_duration)) * video_fps), total_frames - 1)
    if start_frame >= end_frame:
        raise MediaError(
            f"video_start/video_end select no frames: frames {start_frame}..{end_frame} "
            f"of a {max_duration:.2f} s video ({total_frames} frames at {video_fps:g} fps)"
        )
    return start_frame, end_frame, end_frame - start_frame + 1


def smart_nframes(
    total_frames: int,
    video_fps: float,
    *,
    frame_factor: int,
    fps: float | None = 2.0,
    nframes: int | None = None,
    min_frames: int = FPS_MIN_FRAMES,
    max_frames: int | None = None,
) -> int:
    """How many frames to sample: `nframes` rounded to even, else `fps` per second clamped.

    `max_frames=None` means qwen-vl-utils' default, min(768, total_frames). Counts are
    multiples of `frame_factor`, the encoder's temporal patch size.
    """
    if nframes is not None:
        count = round_by_factor(nframes, frame_factor)
    else:
        rate = 2.0 if fps is None else fps
        lo = ceil_by_factor(min_frames, frame_factor)
        hi = floor_by_factor(min(FPS_MAX_FRAMES, total_frames) if max_frames is None else max_frames, frame_factor)
        wanted = total_frames / video_fps * rate
        count = floor_by_factor(min(min(max(wanted, lo), hi), total_frames), frame_factor)
    if not frame_factor <= count <= total_frames:
        raise MediaError(
            f"cannot sample {count} frames from a video (range) of {total_frames} frames; "
            f"between {frame_factor} and {total_frames} are possible"
        )
    return count


def sample_indices(start_frame: int, end_frame: int, nframes: int) -> list[int]:
    """Evenly spaced frame indices, rounded exactly like the reference.

    The reference rounds a float32 torch.linspace (ties to even), so we do the same
    rather than re-deriving it in float64, which can round a tie differently.
    """
    import torch  # here, so that the arithmetic above imports without torch (task recipes use it)

    return torch.linspace(start_frame, end_frame, nframes).round().long().tolist()


def video_frame_pixel_limits(
    nframes: int,
    geometry: VisionGeometry,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    total_pixels: float | None = None,
) -> tuple[int, float]:
    """(min_pixels, max_pixels) for each frame of an `nframes` video under a total budget.

    Each pair of frames (one temporal patch) gets an equal share of `total_pixels`,
    capped at 768 tokens a frame and floored at 1.05 x min_pixels; a caller's
    max_pixels can only lower that.
    """
    token = geometry.token_pixels
    lo = VIDEO_FRAME_MIN_TOKENS * token if min_pixels is None else min_pixels
    budget = DEFAULT_VIDEO_TOTAL_TOKENS * token if total_pixels is None else total_pixels
    hi = max(min(VIDEO_FRAME_MAX_TOKENS * token, budget / nframes * geometry.temporal_patch_size), int(lo * 1.05))
    if max_pixels is not None:
        hi = min(max_pixels, hi)
    return lo, hi


def video_frame_size(
    height: int,
    width: int,
    nframes: int,
    geometry: VisionGeometry,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    total_pixels: float | None = None,
) -> tuple[int, int]:
    """(height, width) each sampled frame is resized to, as qwen-vl-utils' fetch_video."""
    lo, hi = video_frame_pixel_limits(
        nframes, geometry, min_pixels=min_pixels, max_pixels=max_pixels, total_pixels=total_pixels
    )
    return smart_resize(height, width, geometry.token_side, min_pixels=lo, max_pixels=hi)


def image_size(
    height: int,
    width: int,
    geometry: VisionGeometry,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """(height, width) an image is resized to, as qwen-vl-utils' fetch_image."""
    return smart_resize(height, width, geometry.token_side, min_pixels=min_pixels, max_pixels=max_pixels)


def num_tokens(frames: int, height: int, width: int, geometry: VisionGeometry) -> int:
    """LLM tokens for `frames` frames of height x width pixels (sides multiples of the token side)."""
    temporal = max(1, frames // geometry.temporal_patch_size)
    return temporal * (height // geometry.token_side) * (width // geometry.token_side)
