"""Our video path against the reference path, exactly.

Reference (the model card's): qwen-vl-utils `process_vision_info(..., return_video_kwargs=True,
return_video_metadata=True)` on a file path, read with decord, then the HF processor with the
returned frames, metadata and kwargs. Ours: `load_video` on the bytes, then the same processor
with `processor_videos` and `processor_video_kwargs`.

Compared: sampled frame indices, video_grid_thw, input_ids (so the number of video tokens),
second_per_grid_ts, mm_token_type_ids, and pixel_values_videos. Everything but the pixels is
compared for equality. PyAV's and decord's RGB conversions agree bit for bit on these clips,
and our resize computes torchvision's bicubic antialiased resize with torch's own weights as
matrix products, whose sums can land on the other side of a .5 boundary: pixel values may
differ by one uint8 step (after the processor's normalisation, 1 / 255 / std), rarely.

Two processors: the checkpoint's (Qwen2.5-VL-7B's preprocessor_config.json, whose video
limits 3136..12845056 never resize qwen-vl-utils' frames again) and one with transformers'
default video limits (100352..602112), which enlarges budget-shrunk frames a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from cosmos_reason.engine.hf.inputs import processor_videos
from cosmos_reason.families.reason1.media import processor_video_kwargs
from cosmos_reason.media.options import MediaOptions
from tests.media_factory import load_video, make_video, reason1_video

pytest.importorskip("decord")  # the reference reader (test-only dependency)

#: One uint8 step after the processor's normalisation, for the smallest channel std (CLIP's).
ONE_STEP = 1 / 255 / 0.26130258


def assert_pixels_within_rounding(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape
    diff = (got - expected).abs()
    assert float(diff.max()) <= ONE_STEP * 1.001
    assert float((diff > 1e-5).float().mean()) < 1e-2  # drawn test clips hit exact .5 sums far more than camera frames


qvu = pytest.importorskip("qwen_vl_utils.vision_process")

PROMPT = "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What happens?<|im_end|>\n<|im_start|>assistant\n"
VIDEO_PAD_ID = 151656


@pytest.fixture(scope="module", autouse=True)
def decord_reader() -> Iterator[None]:
    """Make qwen-vl-utils read with decord (torchvision >= 0.24 has no video reader)."""
    saved = qvu.FORCE_QWENVL_VIDEO_READER
    qvu.FORCE_QWENVL_VIDEO_READER = "decord"
    qvu.get_video_reader_backend.cache_clear()
    yield
    qvu.FORCE_QWENVL_VIDEO_READER = saved
    qvu.get_video_reader_backend.cache_clear()


@pytest.fixture(scope="module")
def processors(demo_model_dir: Path) -> dict[str, Any]:
    from transformers import AutoProcessor, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    checkpoint = AutoProcessor.from_pretrained(demo_model_dir)
    default_video = Qwen2_5_VLProcessor(
        image_processor=checkpoint.image_processor,
        tokenizer=checkpoint.tokenizer,
        video_processor=Qwen2VLVideoProcessor(),  # shortest_edge 100352, longest_edge 602112
        chat_template=checkpoint.chat_template,
    )
    return {"checkpoint": checkpoint, "default-video": default_video}


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    cache: dict[tuple, Path] = {}
    folder = tmp_path_factory.mktemp("fidelity-clips")

    def make(width: int, height: int, fps: int, seconds: float, **kwargs: Any) -> Path:
        key = (width, height, fps, seconds, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        if key not in cache:
            suffix = {"webm": ".webm", "matroska": ".mkv"}.get(kwargs.get("fmt", "mp4"), ".mp4")
            path = folder / f"clip{len(cache)}{suffix}"
            path.write_bytes(make_video(width, height, fps, seconds, **kwargs))
            cache[key] = path
        return cache[key]

    return make


def reference(path: Path, ele: dict[str, Any], processor: Any) -> tuple[Any, dict[str, Any]]:
    message = {
        "role": "user",
        "content": [{"type": "video", "video": str(path), **ele}, {"type": "text", "text": "What happens?"}],
    }
    _, videos, kwargs = qvu.process_vision_info([message], return_video_kwargs=True, return_video_metadata=True)
    frames, metadata = zip(*videos, strict=False)
    inputs = processor(text=[PROMPT], videos=list(frames), video_metadata=list(metadata), **kwargs, return_tensors="pt")
    return inputs, metadata[0]


def ours(path: Path, options: MediaOptions, processor: Any) -> tuple[Any, Any]:
    video = load_video(path.read_bytes(), options)
    videos = [video]
    inputs = processor(
        text=[PROMPT],
        videos=processor_videos(videos, processor.video_processor),
        **processor_video_kwargs(videos),
        return_tensors="pt",
    )
    return inputs, video


def ele_for(options: MediaOptions) -> dict[str, Any]:
    """The qwen-vl-utils message keys equivalent to `options`."""
    ele: dict[str, Any] = {"min_frames": options.min_frames, "max_frames": options.max_frames}
    if options.nframes is not None:
        ele["nframes"] = options.nframes
    else:
        ele["fps"] = options.fps
    for key in ("total_pixels", "min_pixels", "max_pixels", "video_start", "video_end"):
        if getattr(options, key) is not None:
            ele[key] = getattr(options, key)
    return ele


CASES = [
    # id, clip (width, height, fps, seconds, make_video kwargs), options
    ("720p-30fps-1s", (1280, 720, 30, 1.0, {}), reason1_video()),
    ("640x480-25fps-3s", (640, 480, 25, 3.0, {}), reason1_video()),
    ("320x1000-24fps-1s", (320, 1000, 24, 1.0, {}), reason1_video()),
    ("97x131-60fps-2s", (97, 131, 60, 2.0, {}), reason1_video()),
    ("320x240-30fps-12s", (320, 240, 30, 12.0, {"codec_options": {"preset": "ultrafast"}}), reason1_video()),
    ("start-end", (640, 480, 25, 4.0, {}), reason1_video(video_start=0.5, video_end=3.2)),
    ("start-only", (320, 240, 30, 3.0, {}), reason1_video(video_start=1.01)),
    ("nframes-10", (320, 240, 30, 3.0, {}), reason1_video(nframes=10)),
    ("nframes-7", (320, 240, 30, 3.0, {}), reason1_video(nframes=7)),
    ("pixel-limits", (640, 480, 25, 3.0, {}), reason1_video(fps=2.0, min_pixels=3136, max_pixels=50176)),
    ("fps-2-no-budget", (640, 480, 25, 3.0, {}), reason1_video(fps=2.0, total_pixels=None)),
    # 80 frames: each frame's share of the budget (160563 pixels) is below 640x360.
    ("budget-bound", (640, 360, 24, 10.0, {"codec_options": {"preset": "ultrafast"}}), reason1_video(fps=8.0)),
    # 16 frames of an 800000-pixel budget: the 1.05 x min_pixels floor wins, frames end
    # below min_pixels (224x420) and a 100352-minimum processor enlarges them again.
    (
        "budget-floor",
        (640, 360, 24, 4.0, {"codec_options": {"preset": "ultrafast"}}),
        reason1_video(total_pixels=800_000),
    ),
    (
        "no-bframes",
        (320, 240, 30, 2.0, {"codec_options": {"preset": "veryfast", "x264-params": "bframes=0"}}),
        reason1_video(),
    ),
    (
        "hevc",
        (
            320,
            240,
            30,
            2.0,
            {"codec": "libx265", "codec_options": {"preset": "ultrafast", "x265-params": "log-level=none"}},
        ),
        reason1_video(),
    ),
    (
        "vp9-webm",
        (
            320,
            240,
            25,
            2.0,
            {"codec": "libvpx-vp9", "fmt": "webm", "codec_options": {"deadline": "realtime", "cpu-used": "8"}},
        ),
        reason1_video(),
    ),
]


@pytest.mark.parametrize("processor_name", ["checkpoint", "default-video"])
@pytest.mark.parametrize(("clip", "options"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_matches_reference_path(
    clip: tuple, options: MediaOptions, processor_name: str, processors: dict[str, Any], clip_file: Callable[..., Path]
) -> None:
    width, height, fps, seconds, kwargs = clip
    path = clip_file(width, height, fps, seconds, **kwargs)
    processor = processors[processor_name]
    expected, metadata = reference(path, ele_for(options), processor)
    got, video = ours(path, options, processor)

    assert list(video.frame_indices) == [int(i) for i in metadata["frames_indices"]]
    assert video.clip_frames == metadata["total_num_frames"] and video.fps == pytest.approx(metadata["fps"])
    assert got["video_grid_thw"].tolist() == expected["video_grid_thw"].tolist()
    assert torch.equal(got["input_ids"], expected["input_ids"])
    assert int((got["input_ids"] == VIDEO_PAD_ID).sum()) == int(expected["video_grid_thw"].prod()) // 4
    assert torch.equal(got["mm_token_type_ids"], expected["mm_token_type_ids"])
    assert (
        torch.as_tensor(got["second_per_grid_ts"]).tolist() == torch.as_tensor(expected["second_per_grid_ts"]).tolist()
    )
    assert_pixels_within_rounding(got["pixel_values_videos"], expected["pixel_values_videos"])


def test_second_resize_needs_float_frames(processors: dict[str, Any], clip_file: Callable[..., Path]) -> None:
    """Why processor_videos exists: uint8 frames resized again by the processor differ."""
    path = clip_file(640, 360, 24, 4.0, codec_options={"preset": "ultrafast"})
    processor = processors["default-video"]
    options = reason1_video(total_pixels=800_000)
    expected, _ = reference(path, ele_for(options), processor)
    video = load_video(path.read_bytes(), options)
    assert tuple(video.frames.shape[2:]) == (224, 420)  # qwen-vl-utils' size, enlarged by this processor
    raw = processor(text=[PROMPT], videos=[video.frames], **processor_video_kwargs([video]), return_tensors="pt")
    assert raw["video_grid_thw"].tolist() == expected["video_grid_thw"].tolist() == [[8, 18, 32]]
    assert float((raw["pixel_values_videos"] - expected["pixel_values_videos"]).abs().max()) > 2 * ONE_STEP


def test_two_videos_in_one_prompt(processors: dict[str, Any], clip_file: Callable[..., Path]) -> None:
    processor = processors["checkpoint"]
    first = clip_file(320, 240, 30, 3.0)
    second = clip_file(97, 131, 60, 2.0)
    options = [reason1_video(), reason1_video(nframes=6)]
    content = [
        {"type": "video", "video": str(path), **ele_for(opt)}
        for path, opt in zip((first, second), options, strict=False)
    ]
    _, videos, kwargs = qvu.process_vision_info(
        [{"role": "user", "content": content}], return_video_kwargs=True, return_video_metadata=True
    )
    frames, metadata = zip(*videos, strict=False)
    text = ["<|vision_start|><|video_pad|><|vision_end|><|vision_start|><|video_pad|><|vision_end|>Compare."]
    expected = processor(text=text, videos=list(frames), video_metadata=list(metadata), **kwargs, return_tensors="pt")
    decoded = [load_video(path.read_bytes(), opt) for path, opt in zip((first, second), options, strict=False)]
    got = processor(
        text=text,
        videos=processor_videos(decoded, processor.video_processor),
        **processor_video_kwargs(decoded),
        return_tensors="pt",
    )
    assert got["video_grid_thw"].tolist() == expected["video_grid_thw"].tolist()
    assert torch.equal(got["input_ids"], expected["input_ids"])
    assert (
        torch.as_tensor(got["second_per_grid_ts"]).tolist() == torch.as_tensor(expected["second_per_grid_ts"]).tolist()
    )
    assert_pixels_within_rounding(got["pixel_values_videos"], expected["pixel_values_videos"])
