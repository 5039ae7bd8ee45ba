"""Server-wide media settings: where media may come from, how big, how sampled.

One frozen dataclass (Settings.media) plus the `serve` flags that fill it, so the
CLI, the app and the tests share one set of defaults.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from .options import DEFAULT_MAX_IMAGE_PIXELS, MediaOptions
from .vision_math import FPS_MIN_FRAMES

KiB, MiB, GiB = 1024, 1024**2, 1024**3

#: Big enough for a 60-second 1080p H.264 clip sent as a base64 data: URI (~45 MB of
#: video is ~60 MB of base64), plus the rest of the JSON.
DEFAULT_MAX_REQUEST_BYTES = 64 * MiB


@dataclass(frozen=True)
class MediaSettings:
    # How videos are sampled unless a request says otherwise (the --video-* flags); what is not
    # set here is the model family's default.
    video: MediaOptions = field(default_factory=MediaOptions)
    image_min_pixels: int | None = None  # None: qwen-vl-utils' 4 tokens' worth
    image_max_pixels: int | None = None  # None: qwen-vl-utils' 16384 tokens' worth
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS  # decompression-bomb limit (Pillow's), video frames too
    # Where media may come from.
    allowed_local_media_paths: tuple[str, ...] = ()  # file:// only under these folders
    allowed_media_domains: tuple[str, ...] = ()  # http(s) only to these hosts (and subdomains); () = any
    allow_private_media_urls: bool = False  # lift the public-address check for http(s)
    image_fetch_timeout: float = 10.0  # seconds, whole download including redirects
    video_fetch_timeout: float = 60.0
    max_image_bytes: int = 64 * MiB  # per http(s) or file:// image
    max_video_bytes: int = 512 * MiB  # per http(s) or file:// video
    max_redirects: int = 5
    # How much per request, and how much work at once.
    max_media_per_request: int = 32
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    media_workers: int = 2  # decodes running at once; the rest wait
    media_cache_bytes: int = 1 * GiB  # decoded media kept for repeats; 0 disables

    def __post_init__(self) -> None:
        positive = (
            "max_image_pixels",
            "image_fetch_timeout",
            "video_fetch_timeout",
            "max_image_bytes",
            "max_video_bytes",
            "max_media_per_request",
            "max_request_bytes",
            "media_workers",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must not be negative, got {self.max_redirects}")
        if self.media_cache_bytes < 0:
            raise ValueError(f"media_cache_bytes must be 0 (off) or more, got {self.media_cache_bytes}")
        for name in ("image_min_pixels", "image_max_pixels"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.image_min_pixels and self.image_max_pixels and self.image_min_pixels > self.image_max_pixels:
            raise ValueError("image_min_pixels must not exceed image_max_pixels")
        _check_video(self.video)
        for root in self.allowed_local_media_paths:
            if not Path(root).expanduser().is_dir():
                raise ValueError(f"allowed local media path {root!r} is not a folder")
        object.__setattr__(
            self, "allowed_media_domains", tuple(normalize_domain(d) for d in self.allowed_media_domains)
        )


def _check_video(video: MediaOptions) -> None:
    for name in ("fps", "min_pixels", "max_pixels", "total_pixels"):
        value = getattr(video, name)
        if value is not None and value <= 0:
            raise ValueError(f"video {name} must be positive, got {value}")
    for name in ("min_frames", "max_frames"):
        value = getattr(video, name)
        if value is not None and value < 2:
            raise ValueError("video min_frames and max_frames must be at least 2")
    if video.min_frames is not None and video.max_frames is not None and video.min_frames > video.max_frames:
        raise ValueError("video min_frames must not exceed max_frames")


def normalize_domain(domain: str) -> str:
    """'*.Example.COM.' -> 'example.com' (IDNA-encoded, the form a URL's host is compared in)."""
    text = domain.strip().lower().rstrip(".")
    text = text.removeprefix("*.").lstrip(".")
    if not text or "/" in text or ":" in text:
        raise ValueError(f"allowed media domain {domain!r} must be a host name such as example.com")
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"allowed media domain {domain!r} is not a valid host name") from None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)


def parse_bytes(text: str | int) -> int:
    """'67108864', '64MiB', '64M' (binary), '64MB' (decimal), '1GiB', '0' -> bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (examples: 1048576, 64MiB, 1GiB, 0)")
    number, unit, binary, byte_suffix = match.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    base = 1000 if (unit and byte_suffix and not binary) else 1024
    return int(float(number) * base**power)


def format_bytes(n: int) -> str:
    """Bytes as people read them in an error message: 64 MiB, 1.5 GiB, 300 bytes."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def add_media_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` flags for media; defaults are MediaSettings' (the --video-* ones: the model family's)."""
    d = MediaSettings()
    g = parser.add_argument_group("media sources and safety")
    g.add_argument(
        "--allowed-local-media-path",
        action="append",
        default=[],
        metavar="DIR",
        help="allow file:// media URLs under DIR (repeatable; symlinks are followed only while "
        "they stay under DIR). Without it file:// URLs are refused",
    )
    g.add_argument(
        "--allowed-media-domains",
        action="append",
        default=[],
        metavar="HOST",
        help="fetch http(s) media only from HOST or its subdomains (repeatable; default: any public host)",
    )
    g.add_argument(
        "--allow-private-media-urls",
        action="store_true",
        help="let http(s) media URLs reach loopback, private and link-local addresses (trusted "
        "networks only; cloud metadata addresses stay refused)",
    )
    g.add_argument(
        "--image-fetch-timeout",
        type=float,
        default=d.image_fetch_timeout,
        metavar="S",
        help=f"seconds to download one image URL (default {d.image_fetch_timeout:g})",
    )
    g.add_argument(
        "--video-fetch-timeout",
        type=float,
        default=d.video_fetch_timeout,
        metavar="S",
        help=f"seconds to download one video URL (default {d.video_fetch_timeout:g})",
    )
    g.add_argument(
        "--max-image-bytes",
        type=parse_bytes,
        default=d.max_image_bytes,
        metavar="SIZE",
        help="largest image fetched from a URL or file (default 64MiB)",
    )
    g.add_argument(
        "--max-video-bytes",
        type=parse_bytes,
        default=d.max_video_bytes,
        metavar="SIZE",
        help="largest video fetched from a URL or file (default 512MiB)",
    )
    g = parser.add_argument_group("media limits and work")
    g.add_argument(
        "--max-media-per-request",
        type=int,
        default=d.max_media_per_request,
        metavar="N",
        help=f"images and videos in one request (default {d.max_media_per_request})",
    )
    g.add_argument(
        "--max-request-bytes",
        type=parse_bytes,
        default=d.max_request_bytes,
        metavar="SIZE",
        help="largest request body, base64 media included (default 64MiB: a 60-second 1080p H.264 clip as a data: URI)",
    )
    g.add_argument(
        "--media-workers",
        type=int,
        default=d.media_workers,
        metavar="N",
        help=f"media decodes running at once; more wait their turn (default {d.media_workers})",
    )
    g.add_argument(
        "--media-cache-bytes",
        type=parse_bytes,
        default=d.media_cache_bytes,
        metavar="SIZE",
        help="memory for decoded images and videos reused by later requests (default 1GiB; 0 = off)",
    )
    g = parser.add_argument_group("media sampling defaults (a request's media_options win)")
    g.add_argument(
        "--video-fps",
        metavar="FPS",
        type=float,
        default=None,
        help="frames sampled per second (default: the model family's, 4 for Cosmos-Reason1)",
    )
    g.add_argument(
        "--video-total-pixels",
        metavar="N",
        type=int,
        default=None,
        help="pixel budget over all frames of a video (default: the model family's, 8192 tokens' worth "
        "for Cosmos-Reason1)",
    )
    g.add_argument(
        "--video-max-pixels",
        metavar="N",
        type=int,
        default=None,
        help="most pixels per frame (default: 768 tokens' worth, within the total budget)",
    )
    g.add_argument(
        "--video-min-pixels",
        metavar="N",
        type=int,
        default=None,
        help="fewest pixels per frame (default: 128 tokens' worth)",
    )
    g.add_argument(
        "--video-max-frames",
        metavar="N",
        type=int,
        default=None,
        help="most frames sampled from one video (default 768)",
    )
    g.add_argument(
        "--image-min-pixels",
        metavar="N",
        type=int,
        default=d.image_min_pixels,
        help="resize smaller images up to this many pixels (default: 4 tokens' worth, as qwen-vl-utils)",
    )
    g.add_argument(
        "--image-max-pixels",
        metavar="N",
        type=int,
        default=d.image_max_pixels,
        help="resize larger images down to this many pixels (default: 16384 tokens' worth, as qwen-vl-utils)",
    )


def media_settings_from_args(args: argparse.Namespace) -> MediaSettings:
    max_frames = args.video_max_frames
    video = MediaOptions(
        fps=args.video_fps,
        total_pixels=args.video_total_pixels,
        max_pixels=args.video_max_pixels,
        min_pixels=args.video_min_pixels,
        max_frames=max_frames,
        # a max below qwen-vl-utils' minimum of 4 frames lowers the minimum with it
        min_frames=min(max_frames, FPS_MIN_FRAMES) if max_frames is not None else None,
    )
    values = {
        "video": video,
        "image_min_pixels": args.image_min_pixels,
        "image_max_pixels": args.image_max_pixels,
        "allowed_local_media_paths": tuple(args.allowed_local_media_path),
        "allowed_media_domains": tuple(args.allowed_media_domains),
        "allow_private_media_urls": args.allow_private_media_urls,
        "image_fetch_timeout": args.image_fetch_timeout,
        "video_fetch_timeout": args.video_fetch_timeout,
        "max_image_bytes": args.max_image_bytes,
        "max_video_bytes": args.max_video_bytes,
        "max_media_per_request": args.max_media_per_request,
        "max_request_bytes": args.max_request_bytes,
        "media_workers": args.media_workers,
        "media_cache_bytes": args.media_cache_bytes,
    }
    return MediaSettings(**values)
