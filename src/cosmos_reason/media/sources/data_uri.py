"""data: URIs: base64 media inline in the request (`data:<mime>;base64,<data>`).

Only base64 payloads are taken; the declared mime type is ignored (the bytes decide what
the media is). Decoding is strict base64, SIMD-decoded by pybase64. See docs/media.md#sources.
"""

from __future__ import annotations

import binascii

import pybase64

from ..errors import MediaError


def decode_data_uri(url: str) -> bytes:
    """The bytes a base64 data: URI holds, or MediaError saying what is wrong with it."""
    return payload_bytes(data_payload(url))


def data_payload(url: str) -> str:
    """The base64 text of a data: URI, after checking its header."""
    header, sep, payload = url.partition(",")
    if not sep:
        raise MediaError("data URI has no ',' before its payload")
    if not header.lower().endswith(";base64"):
        raise MediaError("only base64 data URIs are supported (data:<mime>;base64,<data>)")
    if not payload.strip():
        raise MediaError("data URI payload is empty")
    return payload


def payload_bytes(payload: str) -> bytes:
    """The bytes of a data: URI's base64 text (from `data_payload`); never empty."""
    data = _b64decode(payload)
    if not data:
        raise MediaError("data URI payload is empty")
    return data


def _b64decode(payload: str) -> bytes:
    """Strict base64 (SIMD-decoded by pybase64); whitespace, as in a wrapped payload, is allowed."""
    try:
        try:
            return pybase64.b64decode(payload, validate=True)
        except binascii.Error:
            if not any(c in payload for c in " \n\r\t"):
                raise
            return pybase64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("data URI payload is not valid base64") from None
