"""Whether bytes are an image or a video, by content: magic bytes first, then a Pillow probe, then
a PyAV probe (headers only where they can). The jobs sniff the files they are given with it
(jobs/inputs.py) and the report its previews (report/thumbs.py)."""

from __future__ import annotations

import io

HEAD = 4096  # bytes read for the magic test

_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"}
_MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff_magic(head: bytes) -> str | None:
    """'image', 'video' or None from a file's first bytes (no decoding)."""
    if head.startswith(
        (
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
            b"GIF87a",
            b"GIF89a",
            b"II*\x00",
            b"MM\x00*",
            b"\x00\x00\x00\x0cjP  \r\n",
            b"qoif",
        )
    ):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"
    if head[4:8] in _MOV_ATOMS:
        return "video"
    if head.startswith(
        (
            b"\x1a\x45\xdf\xa3",
            b"FLV\x01",
            b"\x00\x00\x01\xba",
            b"\x00\x00\x01\xb3",
            b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
            b"YUV4MPEG2",
        )
    ):
        return "video"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG transport stream
        return "video"
    return None


def looks_like_text(head: bytes) -> bool:
    """Whether a file's first bytes read as text (or there are none): a manifest or notes, no media."""
    if not head or b"\x00" in head:
        return not head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # a multi-byte character cut at the end
    return True


def probe_kind(source: str | io.BytesIO) -> str | None:
    """Ask Pillow, then PyAV, whether this is an image or a video (headers only where they can)."""
    from PIL import Image

    try:
        with Image.open(source):
            return "image"
    except Exception:  # noqa: BLE001 - any failure means "not an image Pillow knows"
        pass
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        import av

        with av.open(source, mode="r") as container:
            return "video" if container.streams.video else None
    except Exception:  # noqa: BLE001
        return None


def classify_bytes(data: bytes) -> str | None:
    kind = sniff_magic(data[:HEAD])
    if kind is not None or looks_like_text(data[:HEAD]):
        return kind
    return probe_kind(io.BytesIO(data))
