"""Opening a video container from the bytes we hold, and nothing else.

Left to probe, FFmpeg picks any of its ~400 demuxers, and some of them open other
files, URLs or sockets named inside the payload: `concat`/ffconcat scripts, HLS and DASH
playlists, image2 filename patterns, `tty` (a text file as video), `subfile`, SDP/RTP
(UDP ports). A `data:` video could then make the server read its own files. So:

* the container is recognised here from its magic bytes, against an explicit
  allowlist, and FFmpeg is told which demuxer to use (no probing);
* the demuxer may not open any protocol (`protocol_whitelist` names none) and only
  the chosen format (`format_whitelist`), so even a nested open inside an allowed
  container fails; MP4's external data references (`enable_drefs`) stay off.

Anything else is a MediaError (a 400), before FFmpeg sees the bytes.
"""

from __future__ import annotations

import io

import av

from .errors import MediaError

#: demuxer -> what users call it. Every one reads only the buffer it is given. The list is
#: the video files the jobs pick up (jobs/inputs.py) that FFmpeg here can decode.
ALLOWED_CONTAINERS = {
    "mov": "MP4/QuickTime (.mp4, .mov, .m4v, .3gp)",
    "matroska": "Matroska/WebM (.mkv, .webm)",
    "avi": "AVI",
    "mpegts": "MPEG transport stream (.ts, .m2ts)",
    "mpeg": "MPEG program stream (.mpg, .vob)",
    "flv": "FLV",
    "asf": "ASF/WMV",
    "mxf": "MXF",
    "yuv4mpegpipe": "Y4M",
    "mpegvideo": "raw MPEG-1/2 video (.m2v)",
    "h264": "raw H.264 (.h264)",
    "hevc": "raw H.265 (.hevc)",
    "gif": "GIF",
}

#: ISO base media (MP4/QuickTime) top-level boxes a file may start with.
_ISO_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})
_TS_SYNC = 0x47
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MXF_KEY = bytes.fromhex("060e2b34020501010d010201")  # a header partition pack

#: No protocol is named "none": nested opens of files, URLs or sockets all fail.
_NO_ESCAPE = {"protocol_whitelist": "none"}
_DEMUXER_OPTIONS = {"mov": {"enable_drefs": "0"}}


def sniff_container(data: bytes) -> str | None:
    """The allowed demuxer for these bytes, from their magic numbers; None if not allowed."""
    if data[4:8] in _ISO_BOXES:
        return "mov"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if data[:4] == b"\x00\x00\x01\xb3":
        return "mpegvideo"
    if data[:4] == b"FLV\x01":
        return "flv"
    if data[:16] == _ASF_GUID:
        return "asf"
    if data[:12] == _MXF_KEY:
        return "mxf"
    if data[:10] == b"YUV4MPEG2 ":
        return "yuv4mpegpipe"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if _transport_stream(data, 188, 0) or _transport_stream(data, 192, 4):
        return "mpegts"
    return _elementary_stream(data)


def _elementary_stream(data: bytes) -> str | None:
    """Raw H.264/H.265 (Annex B): a start code, then a parameter set or access unit delimiter."""
    start = 4 if data[:4] == b"\x00\x00\x00\x01" else 3 if data[:3] == b"\x00\x00\x01" else 0
    if not start or len(data) < start + 2:
        return None
    header = data[start]
    if header & 0x80:
        return None  # the forbidden bit
    if (header >> 1) & 0x3F in (32, 35) and data[start + 1] == 0x01:  # VPS, AUD
        return "hevc"
    if header & 0x1F in (7, 9):  # SPS, AUD
        return "h264"
    return None


def _transport_stream(data: bytes, packet: int, offset: int) -> bool:
    """Sync bytes at the start of each of the first packets (at least two of them)."""
    positions = range(offset, min(len(data), offset + 5 * packet), packet)
    return len(positions) >= 2 and all(data[p] == _TS_SYNC for p in positions)


def open_container(data: bytes, max_pixels: int | None = None) -> av.container.InputContainer:
    """Open an allowed container over `data` with the demuxer chosen from its magic bytes.

    With `max_pixels`, the decoders FFmpeg runs while probing the streams refuse larger
    pictures (their size then reads 0x0), so no oversized frame is decoded even there.
    """
    demuxer = sniff_container(data)
    if demuxer is None:
        allowed = ", ".join(ALLOWED_CONTAINERS.values())
        raise MediaError(f"data is not a recognized video format; the containers accepted are {allowed}")
    options = {**_NO_ESCAPE, "format_whitelist": demuxer, **_DEMUXER_OPTIONS.get(demuxer, {})}
    codec_options = {"max_pixels": str(max_pixels)} if max_pixels else {}
    try:
        return av.open(io.BytesIO(data), mode="r", format=demuxer, options=codec_options, container_options=options)
    except av.FFmpegError as exc:
        raise MediaError(
            f"data is not a recognized video format ({ALLOWED_CONTAINERS[demuxer]}: {ffmpeg_reason(exc)})"
        ) from None


def ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).rstrip(". ")
