"""`cosmos-reason frames`: the PNGs are the frames the model sees, and frames.json says so truly.

The frames are checked against the reference path (qwen-vl-utils' fetch_video with decord, as
tests/media/video/test_fidelity.py does), the token count against the arithmetic of the
encoder's grid and the checkpoint's processor run on the written PNGs, the Reason2 text
timestamps against Qwen3-VL's rule (the mean time of each temporal patch's frames).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from cosmos_reason.cli import main
from cosmos_reason.media.overlay import BORDER, overlay_timestamps
from tests.media_factory import make_video

qvu = pytest.importorskip("qwen_vl_utils.vision_process")
pytest.importorskip("decord")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "frames.png"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of 320x240 at 10 fps: 30 frames, every one different."""
    path = tmp_path_factory.mktemp("frames") / "clip.mp4"
    path.write_bytes(make_video(320, 240, 10, 3.0))
    return path


@pytest.fixture(scope="module")
def processor(demo_model_dir: Path) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(demo_model_dir)


@pytest.fixture(autouse=True)
def demo_cache(demo_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--model demo` finds the session's demo build instead of making its own."""
    monkeypatch.setenv("COSMOS_REASON_CACHE", str(demo_cache_dir))


def run_frames(*args: str) -> int:
    return main(["frames", *args])


def written(out: Path) -> tuple[dict, torch.Tensor]:
    index = json.loads((out / "frames.json").read_text())
    pngs = sorted(out.glob("frame_*.png"))
    assert [p.name for p in pngs] == [f["file"] for f in index["frames"]]
    return index, torch.stack([png(p) for p in pngs])


def png(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def reference(path: Path, **ele: Any) -> tuple[torch.Tensor, float]:
    """qwen-vl-utils' frames (uint8) and sample fps for the video, with Cosmos-Reason1's total_pixels."""
    saved = qvu.FORCE_QWENVL_VIDEO_READER
    qvu.FORCE_QWENVL_VIDEO_READER = "decord"
    qvu.get_video_reader_backend.cache_clear()
    try:
        video, fps = qvu.fetch_video({"video": str(path), "total_pixels": 6422528, **ele}, return_video_sample_fps=True)
    finally:
        qvu.FORCE_QWENVL_VIDEO_READER = saved
        qvu.get_video_reader_backend.cache_clear()
    return video.round().to(torch.uint8), fps


def assert_within_rounding(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Our resize equals torchvision's within one uint8 step (media/resize.py)."""
    assert got.shape == expected.shape
    assert int((got.int() - expected.int()).abs().max()) <= 1


@pytest.mark.parametrize(("flags", "ele"), [(["--fps", "2"], {"fps": 2.0}), (["--nframes", "8"], {"nframes": 8})])
def test_the_pngs_are_the_frames_qwen_vl_utils_gives_the_model(tmp_path, clip, processor, flags, ele):
    out = tmp_path / "out"
    assert run_frames(str(clip), *flags, "--out", str(out)) == 0
    index, frames = written(out)
    expected, sample_fps = reference(clip, **ele)
    assert_within_rounding(frames, expected)  # same count, same size, same frames
    assert index["family"] == "reason1" and index["timestamp_overlay"] is False
    assert index["sample_fps"] == pytest.approx(sample_fps)
    t, _, height, width = expected.shape
    # Every PNG is a different source frame; its time is its index at the source's 10 fps.
    indices = [f["index"] for f in index["frames"]]
    assert indices == sorted(set(indices)) and len(indices) == t
    assert [f["time"] for f in index["frames"]] == pytest.approx([i / 10 for i in indices])
    assert {(f["width"], f["height"]) for f in index["frames"]} == {(width, height)}
    # Tokens: one per 28x28 pixels of every two frames, as the processor's grid says.
    tokens = (t // 2) * (height // 28) * (width // 28)
    assert index["processor"]["tokens"] == tokens
    grid = processor.video_processor(videos=[frames], return_tensors="pt")["video_grid_thw"][0].tolist()
    assert index["processor"]["grid"] == grid and grid[0] * grid[1] * grid[2] // 4 == tokens
    assert [p["frames"] for p in index["processor"]["temporal_patches"]] == [[2 * p, 2 * p + 1] for p in range(t // 2)]


def test_timestamp_draws_the_reference_overlay_and_the_model_sees_it(tmp_path, clip, processor):
    out = tmp_path / "out"
    assert run_frames(str(clip), "--nframes", "6", "--timestamp", "--sheet", "--out", str(out)) == 0
    index, frames = written(out)
    expected, sample_fps = reference(clip, nframes=6)
    t, _, height, width = expected.shape
    assert frames.shape == (t, 3, height + BORDER, width)
    assert_within_rounding(frames[:, :, :height], expected)
    # The border is exactly the overlay (drawn on black, so the frame's rounding does not reach it).
    assert torch.equal(frames[:, :, height:], overlay_timestamps(expected, sample_fps)[:, :, height:])
    assert [f["label"] for f in index["frames"]] == [f"{k / sample_fps:.2f}s" for k in range(t)]
    # The border is one more row of tokens per temporal patch, at the size the processor keeps.
    grid = processor.video_processor(videos=[frames], return_tensors="pt")["video_grid_thw"][0].tolist()
    assert index["processor"]["grid"] == grid
    assert index["processor"]["tokens"] == (t // 2) * ((height + BORDER) // 28) * (width // 28)
    assert (index["processor"]["height"], index["processor"]["width"]) == (height + BORDER, width)
    with Image.open(out / "sheet.png") as sheet:
        assert sheet.width > 2 * width  # frames side by side
    # The README's picture of `frames`: replaced only when asked (as tests/e2e/test_playground.py does).
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        make_docs_picture(tmp_path)


def make_docs_picture(tmp_path: Path) -> None:
    """docs/frames.png: a ball rolling across a plain floor for 4 s, as the model sees it at 2 fps."""
    import av

    path = tmp_path / "ball.mp4"
    width, height, fps = 480, 270, 30
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(4 * fps):
            pixels = np.full((height, width, 3), (225, 232, 240), dtype=np.uint8)
            pixels[200:] = (120, 150, 110)  # the floor
            cx, cy = 30 + i * 420 // (4 * fps), 200 - 22 - abs((i % 40) - 20) * 3  # rolling and bouncing
            pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= 22**2] = (200, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "docs-frames"
    assert run_frames(str(path), "--fps", "2", "--timestamp", "--sheet", "--out", str(out)) == 0
    SCREENSHOT.write_bytes((out / "sheet.png").read_bytes())


def test_reason2_lists_the_text_timestamps_of_its_prompt(tmp_path, clip, reason2_model_dir):
    out = tmp_path / "out"
    assert run_frames(str(clip), "--model", str(reason2_model_dir), "--fps", "4", "--out", str(out)) == 0
    index, frames = written(out)
    assert index["family"] == "reason2"
    times = [f["time"] for f in index["frames"]]
    patches = index["processor"]["temporal_patches"]
    assert len(patches) == index["processor"]["grid"][0] == len(frames) // 2
    # Qwen3-VL writes each temporal patch's mean frame time, to a tenth of a second.
    expected = [f"<{(times[2 * p] + times[2 * p + 1]) / 2:.1f} seconds>" for p in range(len(patches))]
    assert [p["text"] for p in patches] == expected


def test_reason2_refuses_the_overlay(tmp_path, clip, reason2_model_dir, capsys):
    code = run_frames(str(clip), "--model", str(reason2_model_dir), "--timestamp", "--out", str(tmp_path / "o"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "timestamp" in err[0] and "Reason2 puts timestamps in the text" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("video", "flags", "message"),
    [
        ("missing.mp4", [], "missing.mp4: no such file"),
        ("notes.txt", [], "not a recognized video"),
        ("clip.mp4", ["--fps", "0"], "--fps 0: Input should be greater than 0"),
        ("clip.mp4", ["--nframes", "many"], "--nframes many: Input should be a valid integer"),
        ("clip.mp4", ["--model", "./no/such/checkpoint"], "--model ./no/such/checkpoint: no such folder"),
        ("clip.mp4", ["--model", "no-such-org/no-such-model"], "no-such-org/no-such-model"),  # offline or not
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, clip, capsys, video, flags, message, monkeypatch):
    # An unreachable hub makes the check set HF_HUB_OFFLINE for this process (as serve does): undone after.
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
    (tmp_path / "notes.txt").write_text("not a video at all " * 50)
    (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    code = run_frames(str(tmp_path / video), *flags, "--out", str(tmp_path / "o"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("cosmos-reason: error: "), err
    assert message in err[0]


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frames", "--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "example:\n  cosmos-reason frames clip.mp4" in text and "--timestamp" in text and "--nframes" in text


def test_a_second_run_into_the_same_folder_leaves_only_its_own_frames(tmp_path, clip):
    out = tmp_path / "out"
    assert run_frames(str(clip), "--nframes", "8", "--sheet", "--out", str(out)) == 0
    assert run_frames(str(clip), "--nframes", "4", "--out", str(out)) == 0
    index, frames = written(out)
    assert len(frames) == len(index["frames"]) == 4 and not (out / "sheet.png").exists()
