"""The upstream engine's errors: the seam's own kinds (engine/base.py), named for the logs
and the API's error codes."""

from __future__ import annotations

from ..base import EngineClientError, EngineTimeoutError, EngineUnavailableError


class UpstreamError(EngineUnavailableError):
    """An upstream server failed: refused, dropped or answered 5xx."""

    status = 502
    code = "upstream_error"


class UpstreamTimeoutError(UpstreamError, EngineTimeoutError):
    """An upstream server did not answer in time."""

    status = 504
    code = "upstream_timeout"


class UpstreamClientError(EngineClientError):
    """An upstream server rejected the request as the client's mistake (its 4xx);
    the message is the upstream's own."""

    code = "upstream_rejected"
