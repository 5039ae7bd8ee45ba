"""load_video: frame choice, codecs and containers, rotation, errors.

Clips are made on the spot with PyAV. The comparison with qwen-vl-utils itself (decord
reader plus the HF processor) is in test_fidelity.py; here the oracle is a naive
decoder: decode every frame to RGB, pick the planned indices, resize with torchvision.
"""

from __future__ import annotations

import dataclasses
import io

import av
import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as tvF

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.media import vision_math as vm
from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.options import MediaOptions
from tests.media_factory import load_video, make_video, reason1_video


def naive_reference(data: bytes, options: MediaOptions) -> tuple[list[int], torch.Tensor]:
    """Decode every frame, then sample and resize the way qwen-vl-utils does."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    start, end, count = vm.frame_range(len(frames), fps, options.video_start, options.video_end)
    n = vm.smart_nframes(
        count,
        fps,
        frame_factor=2,
        fps=None if options.nframes else options.fps,
        nframes=options.nframes,
        min_frames=options.min_frames,
        max_frames=options.max_frames,
    )
    indices = torch.linspace(start, end, n).round().long().tolist()
    video = torch.from_numpy(np.stack([frames[i] for i in indices])).permute(0, 3, 1, 2)
    h, w = vm.video_frame_size(
        video.shape[2],
        video.shape[3],
        n,
        REASON1.geometry,
        min_pixels=options.min_pixels,
        max_pixels=options.max_pixels,
        total_pixels=options.total_pixels,
    )
    return indices, tvF.resize(video, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)


# ------------------------------------------------------------------ frame choice and pixels


CLIPS = [
    # width, height, fps, seconds, options
    (64, 48, 30, 1.0, reason1_video()),
    (97, 131, 25, 2.0, reason1_video()),
    (160, 90, 24, 3.0, reason1_video(nframes=6)),
    (120, 68, 60, 2.0, reason1_video(video_start=0.4, video_end=1.3)),
    (80, 250, 30, 1.0, reason1_video(fps=2.0, min_pixels=3136, max_pixels=20000)),
]


def assert_within_rounding(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Our resize against torchvision's: equal but for a rare value one step off (see media/resize.py)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype == torch.uint8
    diff = (got.to(torch.int16) - expected.to(torch.int16)).abs()
    assert int(diff.max()) <= 1
    assert float((diff > 0).float().mean()) < 1e-2


@pytest.mark.parametrize(("width", "height", "fps", "seconds", "options"), CLIPS)
def test_matches_naive_full_decode(width: int, height: int, fps: int, seconds: float, options: MediaOptions) -> None:
    data = make_video(width, height, fps, seconds)
    indices, expected = naive_reference(data, options)
    video = load_video(data, options)
    assert list(video.frame_indices) == indices
    assert video.frames.dtype == torch.uint8
    assert video.frames.shape == expected.shape
    assert_within_rounding(video.frames, expected)


def test_fields() -> None:
    data = make_video(64, 48, 30, 2.0)
    video = load_video(data, reason1_video())
    assert video.fps == 30.0
    assert video.total_frames == video.clip_frames == 60
    assert video.duration == pytest.approx(2.0)
    assert video.num_frames == 8 and video.sample_fps == pytest.approx(4.0)
    assert (video.source_height, video.source_width) == (48, 64)
    assert video.metadata == {
        "fps": 30.0,
        "frames_indices": list(video.frame_indices),
        "total_num_frames": 60,
        "video_backend": "pyav",
    }


def test_clip_range_metadata_counts_clip_frames() -> None:
    video = load_video(make_video(64, 48, 30, 2.0), reason1_video(video_start=0.5, video_end=1.5))
    assert video.clip_frames == 31 and video.total_frames == 60
    assert video.frame_indices[0] == 15 and video.frame_indices[-1] == 45
    assert video.sample_fps == pytest.approx(len(video.frame_indices) / 31 * 30)


def test_nframes_override_rounds_to_even() -> None:
    video = load_video(make_video(64, 48, 30, 1.0), reason1_video(nframes=7))
    assert video.num_frames == 8


def test_video_options_defaults_are_cosmos_and_qwen_vl_utils() -> None:
    options = reason1_video()
    assert (options.fps, options.total_pixels, options.min_frames, options.max_frames) == (4.0, 6_422_528, 4, 768)
    assert options.nframes is None and options.video_start is None and options.video_end is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.fps = 2.0  # type: ignore[misc]


def test_budget_shrinks_frames_of_a_longer_clip() -> None:
    options = reason1_video(fps=16.0)  # 6 s -> 96 frames: each gets 133802 of the 6.4 M pixels
    video = load_video(make_video(640, 360, 24, 6.0, codec_options={"preset": "ultrafast"}), options)
    assert video.num_frames == 96
    assert tuple(video.frames.shape) == (96, 3, 252, 476)  # 119952 pixels a frame, below 640x360
    assert vm.video_frame_size(360, 640, 96, REASON1.geometry, total_pixels=6_422_528) == (252, 476)
    assert video.frames.is_contiguous() and video.frames.dtype == torch.uint8


# ------------------------------------------------------------------ codecs, containers, rotation


@pytest.mark.parametrize(
    ("codec", "fmt", "codec_options"),
    [
        ("libx264", "mp4", {"preset": "veryfast", "x264-params": "bframes=0"}),
        ("libx264", "matroska", None),
        ("mpeg4", "avi", {}),
        ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8"}),
        ("libx265", "mp4", {"preset": "ultrafast", "x265-params": "log-level=none"}),
        ("mjpeg", "matroska", {}),
    ],
)
def test_other_codecs_and_containers(codec: str, fmt: str, codec_options: dict[str, str] | None) -> None:
    data = make_video(64, 48, 25, 1.2, codec=codec, fmt=fmt, codec_options=codec_options)
    options = reason1_video()
    indices, expected = naive_reference(data, options)
    video = load_video(data, options)
    assert list(video.frame_indices) == indices
    assert_within_rounding(video.frames, expected)


@pytest.mark.parametrize(("rotation", "quarter_turns"), [(90, 1), (180, 2), (-90, 3)])
def test_display_rotation_applied(rotation: int, quarter_turns: int) -> None:
    """The display matrix's counter-clockwise angle is applied, as decord applies it."""
    data = make_video(64, 48, 10, 1.0, rotation=rotation)
    video = load_video(data, reason1_video(nframes=2, min_pixels=784, max_pixels=64 * 64 * 4))
    with av.open(io.BytesIO(data)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    upright = np.ascontiguousarray(np.rot90(first, k=quarter_turns))
    assert video.rotation == rotation % 360
    assert (video.source_height, video.source_width) == upright.shape[:2]
    expected = tvF.resize(
        torch.from_numpy(upright).permute(2, 0, 1),
        list(video.frames.shape[2:]),
        interpolation=InterpolationMode.BICUBIC,
        antialias=True,
    )
    assert_within_rounding(video.frames[0], expected)


# ------------------------------------------------------------------ errors


def test_empty() -> None:
    with pytest.raises(MediaError, match="video data is empty"):
        load_video(b"", reason1_video())


@pytest.mark.parametrize("data", [b"this is not a video at all" * 10, bytes(range(256)) * 64, b"\x00" * 4096])
def test_garbage(data: bytes) -> None:
    with pytest.raises(MediaError, match="not a recognized video format|no video stream"):
        load_video(data, reason1_video())


def test_audio_only() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(MediaError, match="no video stream \\(found: audio\\)"):
        load_video(buffer.getvalue(), reason1_video())


def test_a_still_picture_is_not_a_video() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buffer, format="GIF")  # an allowed container, one frame
    with pytest.raises(MediaError, match="only 1 frame"):
        load_video(buffer.getvalue(), reason1_video())


def test_unsupported_codec() -> None:
    data = make_video(64, 48, 10, 1.0)
    entry = data.index(b"avc1", data.index(b"stsd"))  # the sample entry naming the codec
    unknown = data[:entry] + b"zzz9" + data[entry + 4 :]
    with pytest.raises(MediaError, match="codec is not supported"):
        load_video(unknown, reason1_video())


def test_truncated_faststart_file() -> None:
    data = make_video(64, 48, 30, 2.0, faststart=True)
    with pytest.raises(MediaError, match="truncated"):
        load_video(data[: len(data) * 6 // 10], reason1_video())


def test_truncated_file_without_index() -> None:
    data = make_video(64, 48, 30, 2.0)  # moov box at the end: cutting it loses the index
    with pytest.raises(MediaError, match="not a recognized video format"):
        load_video(data[: len(data) // 2], reason1_video())


def test_corrupt_packets() -> None:
    data = bytearray(make_video(64, 48, 30, 2.0, codec_options={"preset": "veryfast", "x264-params": "bframes=0"}))
    start = data.find(b"mdat") + 8
    data[start : start + 2000] = bytes(2000)  # zero the first frames' slices
    try:
        video = load_video(bytes(data), reason1_video())
    except MediaError as exc:
        assert "decod" in str(exc)
    else:  # FFmpeg may conceal the damage: then we still return the planned frames
        assert video.num_frames == 8


@pytest.mark.parametrize("fmt", ["mp4", "matroska"])
def test_no_frames(fmt: str, tmp_path: pytest.TempPathFactory) -> None:
    path = str(tmp_path / f"empty.{fmt}")  # type: ignore[operator]
    with av.open(path, mode="w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    with (
        open(path, "rb") as handle,
        pytest.raises(MediaError, match="no video stream|no decodable frames|not a recognized"),
    ):
        load_video(handle.read(), reason1_video())


def test_bad_time_range() -> None:
    data = make_video(64, 48, 30, 1.0)
    with pytest.raises(MediaError, match="select no frames"):
        load_video(data, reason1_video(video_start=0.8, video_end=0.2))


def test_too_many_frames_requested() -> None:
    with pytest.raises(MediaError, match="cannot sample 40 frames"):
        load_video(make_video(64, 48, 30, 1.0), reason1_video(nframes=40))
