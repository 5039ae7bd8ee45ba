"""The chat-completions service: request -> engine calls -> OpenAI response.

Knows nothing about HTTP; routes hand it a validated request and get back a
ChatCompletion or an async iterator of server-sent-event lines.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from ..engine.base import Delta, Engine, EngineError, GenerationRequest, PromptTooLongError
from ..errors import APIError
from ..media.loader import MediaLoader
from ..prompt import build_conversation
from ..protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Usage,
)
from ..protocol import Delta as DeltaOut
from ..settings import Settings
from .sampling import sampling_params

log = logging.getLogger(__name__)


class ChatService:
    def __init__(self, settings: Settings, engine: Engine, media: MediaLoader) -> None:
        self.settings = settings
        self.engine = engine
        self.media = media

    def check_model(self, model: str | None) -> str:
        names = (self.settings.model_name, *self.settings.served_model_names)
        if model is None or model in names:
            return self.settings.model_name
        raise APIError(404, f"model {model!r} does not exist; this server serves {self.settings.model_name!r}",
                       param="model", code="model_not_found")

    async def prepare(self, request: ChatCompletionRequest, request_id: str) -> GenerationRequest:
        if request.ignored_fields():
            log.info("request %s: ignoring unsupported fields %s", request_id, ", ".join(request.ignored_fields()))
        sampling = sampling_params(request, self.settings.sampling, self.settings.max_n)
        conversation = await build_conversation(request.messages, self.media)
        return GenerationRequest(request_id, conversation, sampling)

    async def complete(self, request: ChatCompletionRequest, request_id: str) -> ChatCompletion:
        model = self.check_model(request.model)
        gen = await self.prepare(request, request_id)
        texts = [""] * gen.sampling.n
        finish: list[str] = ["length"] * gen.sampling.n
        tokens = [0] * gen.sampling.n
        prompt_tokens = 0
        async for delta in _guarded(self.engine.generate(gen)):
            texts[delta.index] += delta.text
            tokens[delta.index] = delta.completion_tokens
            prompt_tokens = delta.prompt_tokens
            if delta.finish_reason:
                finish[delta.index] = delta.finish_reason
        choices = [
            Choice(index=i, message=AssistantMessage(content=texts[i]), finish_reason=_reason(finish[i]))
            for i in range(gen.sampling.n)
        ]
        return ChatCompletion(id=_completion_id(), model=model, choices=choices, usage=_usage(prompt_tokens, tokens))

    async def stream(self, request: ChatCompletionRequest, request_id: str) -> AsyncIterator[str]:
        """Starts generation and waits for the first delta, so that errors before
        any output still get a proper HTTP status; then returns the SSE lines."""
        model = self.check_model(request.model)
        gen = await self.prepare(request, request_id)
        deltas = _guarded(self.engine.generate(gen))
        first = await anext(deltas, None)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return _sse(_chunks(deltas, first, gen.sampling.n, model, include_usage))


async def _chunks(deltas, first: Delta | None, n: int, model: str, include_usage: bool) -> AsyncIterator[str]:
    cid, created = _completion_id(), int(time.time())

    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> str:
        return ChatCompletionChunk(id=cid, created=created, model=model, choices=choices, usage=usage).model_dump_json()

    tokens, prompt_tokens = [0] * n, 0
    yield chunk([ChunkChoice(index=i, delta=DeltaOut(role="assistant")) for i in range(n)])
    try:
        pending = [first] if first is not None else []
        async for delta in _chain(pending, deltas):
            tokens[delta.index], prompt_tokens = delta.completion_tokens, delta.prompt_tokens
            reason = _reason(delta.finish_reason) if delta.finish_reason else None
            yield chunk([ChunkChoice(index=delta.index, delta=DeltaOut(content=delta.text), finish_reason=reason)])
    except APIError as exc:
        yield json.dumps(exc.body())
        return
    if include_usage:
        yield chunk([], _usage(prompt_tokens, tokens))


async def _chain(first: list[Delta], rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    for item in first:
        yield item
    async for item in rest:
        yield item


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        yield f"data: {line}\n\n"
    yield "data: [DONE]\n\n"


async def _guarded(deltas: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    """Engine failures become API errors: the client's fault is a 400, ours a 500."""
    try:
        async for delta in deltas:
            yield delta
    except PromptTooLongError as exc:
        raise APIError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except EngineError as exc:
        raise APIError(500, str(exc), code="engine_error") from None
    finally:
        await deltas.aclose()


def _reason(reason: str | None) -> str:
    # An aborted choice only reaches a client that is still listening during shutdown.
    return "length" if reason == "length" else "stop"


def _usage(prompt_tokens: int, tokens: list[int]) -> Usage:
    completion = sum(tokens)
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion, total_tokens=prompt_tokens + completion)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
