"""Errors raised by the media decoding layer."""

from __future__ import annotations


class MediaError(ValueError):
    """A media payload that cannot be used.

    The message is meant for the API user: it says what is wrong with the payload
    (for example "image could not be decoded: truncated image data"), never how the
    server failed. The HTTP layer maps it to a 400 response.
    """


class FetchRefused(MediaError):
    """The URL points somewhere this server will not fetch from."""
