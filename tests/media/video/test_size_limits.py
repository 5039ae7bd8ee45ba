"""Video size limits that are checked from headers and arithmetic, before pixels cost memory:
frames over the images' pixel bound, aspect ratios beyond the model's 200:1, and
min_pixels/max_pixels asking for more vision tokens than the model's context.
(The same limits for images: tests/media/test_image.py.)"""

from __future__ import annotations

import pytest

import cosmos_reason.media.video.load as load_module
from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.image import DEFAULT_MAX_IMAGE_PIXELS
from tests.media_factory import flat_gray_jpeg, load_video, make_video, mjpeg_mkv, reason1_video


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any frame gets decoded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr(load_module, "decode", refuse)


# ------------------------------------------------------------------ frames: the images' pixel bound, from the header


def test_two_16000x16000_mjpeg_frames_are_refused_from_the_header(no_decoding):
    clip = mjpeg_mkv(flat_gray_jpeg(16000, 16000), declared=(16000, 16000))
    assert len(clip) < 5_000_000  # what the issue sent: a few MB that decode to 4 GB
    # FFmpeg's probe may already have refused the picture (then the size reads 0x0)
    with pytest.raises(MediaError, match=f"video frames are .*more than the {DEFAULT_MAX_IMAGE_PIXELS}"):
        load_video(clip, reason1_video())


def test_the_frame_bound_is_the_servers_image_bound():
    clip = mjpeg_mkv(flat_gray_jpeg(1200, 1000), declared=(1200, 1000))
    assert load_video(clip, reason1_video(), max_frame_pixels=1_300_000).source_width == 1200
    with pytest.raises(MediaError, match="video frames are .*more than the 1000000"):
        load_video(clip, reason1_video(), max_frame_pixels=1_000_000)


def test_a_header_that_understates_the_frame_size_does_not_get_past_the_bound():
    clip = mjpeg_mkv(flat_gray_jpeg(1200, 1000), declared=(64, 48))  # the pictures are bigger than declared
    with pytest.raises(MediaError, match="more than the 1000000 pixels allowed|could not be decoded"):
        load_video(clip, reason1_video(), max_frame_pixels=1_000_000)


# ------------------------------------------------------------------ tokens: from the arithmetic, before decoding


def test_video_min_pixels_beyond_the_context_is_refused_before_decoding(no_decoding):
    options = reason1_video(min_pixels=50_000_000, max_pixels=60_000_000)
    with pytest.raises(
        MediaError, match=r"video would take \d+ vision tokens .* more than the model's context of 4096"
    ):
        load_video(make_video(64, 48, 10, 1.0), options, max_tokens=4096)


def test_video_within_the_context_is_served():
    video = load_video(make_video(64, 48, 10, 1.0), reason1_video(), max_tokens=4096)
    assert video.num_frames == 4


def test_the_timestamp_border_counts_against_the_context():
    clip = make_video(64, 48, 10, 1.0)
    frames, _, height, width = load_video(clip, reason1_video()).frames.shape
    exactly = (frames // 2) * (height // 28) * (width // 28)
    assert load_video(clip, reason1_video(), max_tokens=exactly).num_frames == frames
    with pytest.raises(MediaError, match=rf"video would take {exactly + frames // 2 * width // 28} vision tokens"):
        load_video(clip, reason1_video(timestamp=True), max_tokens=exactly)


# ------------------------------------------------------------------ aspect ratio: the processor's 200:1


def test_video_frames_beyond_200_to_1_are_refused_before_decoding(no_decoding):
    clip = mjpeg_mkv(flat_gray_jpeg(600, 2), declared=(600, 2), frames=4)
    with pytest.raises(MediaError, match=r"aspect ratio is 300\.0:1 .*at most 200:1"):
        load_video(clip, reason1_video())
