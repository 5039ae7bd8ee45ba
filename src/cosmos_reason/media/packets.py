"""Facts about a video stream's packets, read without decoding them."""

from __future__ import annotations

import av


def pts_timeline(packets: list[av.Packet]) -> dict[int, int] | None:
    """pts -> frame index (rank of the pts among all packets), as decord indexes frames.

    None when some packet has no pts or two share one: then frames are counted instead.
    """
    stamps = [packet.pts for packet in packets]
    known = [stamp for stamp in stamps if stamp is not None]
    if len(known) != len(stamps) or len(set(known)) != len(known):
        return None
    return {stamp: index for index, stamp in enumerate(sorted(known))}


def disposable_packets(codec: av.CodecContext, packets: list[av.Packet]) -> set[int]:
    """Positions of H.264 packets whose pictures no other picture refers to.

    Those (nal_ref_idc 0 in every slice) can be left undecoded without changing any
    other picture, which is what FFmpeg's skip_frame=NONREF does; other codecs: none.
    """
    if codec.name != "h264":
        return set()
    extradata = bytes(codec.extradata or b"")
    length_size = (extradata[4] & 3) + 1 if extradata[:1] == b"\x01" and len(extradata) > 4 else 0
    return {
        position
        for position, packet in enumerate(packets)
        if _is_nonref_h264(memoryview(packet).cast("B"), length_size)
    }


def _is_nonref_h264(data: memoryview, length_size: int) -> bool:
    """True when the access unit has slices and all of them have nal_ref_idc == 0."""
    headers = _nal_headers_avcc(data, length_size) if length_size else _nal_headers_annexb(bytes(data))
    slices = [header for header in headers if header & 0x1F in (1, 5)]
    return bool(slices) and all(header & 0x60 == 0 for header in slices)


def _nal_headers_avcc(data: memoryview, length_size: int) -> list[int]:
    headers, offset, end = [], 0, len(data)
    while offset + length_size < end:
        size = int.from_bytes(data[offset : offset + length_size], "big")
        if size == 0 or offset + length_size + size > end:
            headers.append(0x65)  # malformed: count it as a reference slice, never skipped
            return headers
        headers.append(data[offset + length_size])
        offset += length_size + size
    return headers


def _nal_headers_annexb(data: bytes) -> list[int]:
    headers, offset = [], data.find(b"\x00\x00\x01")
    while 0 <= offset and offset + 3 < len(data):
        headers.append(data[offset + 3])
        offset = data.find(b"\x00\x00\x01", offset + 3)
    return headers
