"""Server-wide media settings: sizes, validation and the `serve` flags that fill them."""

from __future__ import annotations

import pytest

from cosmos_reason.media.settings import MediaSettings, parse_bytes


@pytest.mark.parametrize(
    "text,value",
    [
        ("1024", 1024),
        ("64MiB", 64 << 20),
        ("64M", 64 << 20),
        ("64MB", 64_000_000),
        ("1GiB", 1 << 30),
        ("1.5k", 1536),
        ("0", 0),
    ],
)
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


def test_media_settings_validate(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        MediaSettings(allowed_local_media_paths=(str(tmp_path / "missing"),))
    with pytest.raises(ValueError, match="media_workers"):
        MediaSettings(media_workers=0)
    with pytest.raises(ValueError, match="host name"):
        MediaSettings(allowed_media_domains=("http://x.org/",))
    assert MediaSettings(allowed_media_domains=("*.Bücher.de",)).allowed_media_domains == ("xn--bcher-kva.de",)


def test_serve_flags_fill_media_settings(tmp_path):
    from cosmos_reason.cli import build_parser
    from cosmos_reason.media.options import MediaOptions
    from cosmos_reason.server.flags import settings_from_args

    args = build_parser().parse_args(
        [
            "serve",
            "--model",
            "/ckpt",
            "--allowed-local-media-path",
            str(tmp_path),
            "--allowed-local-media-path",
            "/",
            "--allowed-media-domains",
            "Example.com",
            "--allow-private-media-urls",
            "--max-media-per-request",
            "4",
            "--max-request-bytes",
            "128MiB",
            "--media-workers",
            "3",
            "--media-cache-bytes",
            "0",
            "--video-fps",
            "2",
            "--video-total-pixels",
            "1000000",
            "--video-max-pixels",
            "200000",
            "--video-min-pixels",
            "5000",
            "--video-max-frames",
            "64",
            "--image-min-pixels",
            "4000",
            "--image-max-pixels",
            "500000",
            "--image-fetch-timeout",
            "3",
            "--video-fetch-timeout",
            "30",
            "--max-image-bytes",
            "1MiB",
            "--max-video-bytes",
            "2GiB",
        ]
    )
    media = settings_from_args(args).media
    assert media.allowed_local_media_paths == (str(tmp_path), "/")
    assert media.allowed_media_domains == ("example.com",) and media.allow_private_media_urls
    assert (media.max_media_per_request, media.max_request_bytes, media.media_workers, media.media_cache_bytes) == (
        4,
        128 << 20,
        3,
        0,
    )
    assert media.video == MediaOptions(
        fps=2.0, total_pixels=1_000_000, max_pixels=200_000, min_pixels=5000, min_frames=4, max_frames=64
    )
    assert (media.image_min_pixels, media.image_max_pixels) == (4000, 500_000)
    assert (media.image_fetch_timeout, media.video_fetch_timeout, media.max_image_bytes, media.max_video_bytes) == (
        3.0,
        30.0,
        1 << 20,
        2 << 30,
    )
    defaults = settings_from_args(build_parser().parse_args(["serve", "--model", "/ckpt"])).media
    assert defaults == MediaSettings() and defaults.video == MediaOptions()  # the model family's decide
