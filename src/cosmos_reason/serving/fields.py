"""Request fields checked together: combinations that make no sense, and fields we do
not honour. No field that would change the output is ever silently ignored (docs/api.md)."""

from __future__ import annotations

from ..errors import APIError
from ..protocol import ChatCompletionRequest


def check_fields(request: ChatCompletionRequest) -> None:
    if request.stream_options is not None and not request.stream:
        raise APIError(400, "stream_options: only allowed with \"stream\": true", param="stream_options")
