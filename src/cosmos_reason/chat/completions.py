"""The chat-completions service: request -> engine calls -> OpenAI response.

Knows nothing about HTTP; routes hand it a validated request and get back a
ChatCompletion or an async iterator of server-sent-event lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from ..api.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Usage,
)
from ..engine.base import (
    Delta,
    Engine,
    EngineError,
    EngineOverloadedError,
    GenerationRequest,
    MaxTokensTooLargeError,
    PromptTooLongError,
    TokenLogprob,
)
from ..errors import APIError
from ..families.registry import with_recipe_files
from ..media.loader import MediaLoader
from ..metrics import Metrics, RequestTimer
from ..reasoning.format import ReasoningFormat
from ..reasoning.split import split_reasoning
from ..settings import Settings
from .fields import check_fields
from .messages import build_conversation
from .prepare import prepare_request
from .response_format import recipe_constraint, request_constraint
from .sampling import sampling_params
from .shaping import ChoiceShaper, choice_logprobs, delta_fields

log = logging.getLogger(__name__)


class ChatService:
    def __init__(self, settings: Settings, engine: Engine, media: MediaLoader, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.engine = engine
        # Fixed for the engine's life; read once, not per request or choice. With --recipes, its
        # recipes and the folder's (GET /v1/tasks lists these).
        self.family = with_recipe_files(engine.info.family, settings.recipes)
        self.media = media
        self.metrics = metrics

    def check_model(self, model: str | None) -> str:
        names = (self.settings.model_name, *self.settings.served_model_names)
        if model is None or model in names:
            return self.settings.model_name
        raise APIError(
            404,
            f"model {model!r} does not exist; this server serves {self.settings.model_name!r}",
            param="model",
            code="model_not_found",
        )

    async def prepare(
        self, request: ChatCompletionRequest, request_id: str
    ) -> tuple[ChatCompletionRequest, GenerationRequest]:
        check_fields(request, self.engine.info.vocab_size)
        if request.ignored_fields():
            log.info("request %s: ignoring unsupported fields %s", request_id, ", ".join(request.ignored_fields()))
        max_tokens_given = request.max_tokens is not None or request.max_completion_tokens is not None
        family = self.family
        prepared = prepare_request(request, self.settings, family)
        request = prepared.request
        defaults = self.settings.sampling_defaults(family, prepared.reasoning)
        frame = family.reasoning if prepared.reasoning else None
        constraint = request_constraint(request, frame, family.reasoning) or recipe_constraint(
            request, prepared.recipe, frame
        )
        sampling = sampling_params(request, defaults, self.settings.max_n, max_tokens_given, constraint)
        conversation = await build_conversation(request.messages, self.media, prepared.media_options)
        return request, GenerationRequest(request_id, conversation, sampling)

    async def complete(self, request: ChatCompletionRequest, request_id: str) -> ChatCompletion:
        model = self.check_model(request.model)
        request, gen = await self.prepare(request, request_id)
        n = gen.sampling.n
        texts, finish, tokens = [""] * n, ["length"] * n, [0] * n
        logprobs: list[list[TokenLogprob]] = [[] for _ in range(n)]
        prompt_tokens = 0
        timer = RequestTimer(self.metrics)
        async for delta in _guarded(self.engine.generate(gen), _max_tokens_param(request)):
            timer.delta()
            texts[delta.index] += delta.text
            tokens[delta.index] = delta.completion_tokens
            logprobs[delta.index].extend(delta.logprobs)
            prompt_tokens = delta.prompt_tokens
            if delta.finish_reason:
                finish[delta.index] = delta.finish_reason
        choices = [
            Choice(
                index=i,
                message=_message(texts[i], self.family.reasoning, raw=request.raw_output),
                finish_reason=_reason(finish[i]),
                logprobs=choice_logprobs(logprobs[i]) if gen.sampling.logprobs else None,
            )
            for i in range(n)
        ]
        timer.done(prompt_tokens, sum(tokens))
        return ChatCompletion(id=_completion_id(), model=model, choices=choices, usage=_usage(prompt_tokens, tokens))

    async def stream(self, request: ChatCompletionRequest, request_id: str) -> AsyncIterator[str]:
        """Starts generation and waits for the first delta, so that errors before
        any output still get a proper HTTP status; then returns the SSE lines."""
        model = self.check_model(request.model)
        request, gen = await self.prepare(request, request_id)
        deltas = _guarded(self.engine.generate(gen), _max_tokens_param(request))
        first = await anext(deltas, None)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        chunks = _Chunks(
            model,
            gen.sampling.n,
            self.family.reasoning,
            raw=request.raw_output,
            logprobs=gen.sampling.logprobs,
            timer=RequestTimer(self.metrics),
        )
        return chunks.run(deltas, first, include_usage)


class _Chunks:
    def __init__(
        self, model: str, n: int, fmt: ReasoningFormat, raw: bool, logprobs: bool, timer: RequestTimer
    ) -> None:
        self.timer = timer
        self.id, self.created, self.model = _completion_id(), int(time.time()), model
        self.shapers = [ChoiceShaper(fmt, raw) for _ in range(n)]
        self.tokens = [0] * n
        self.prompt_tokens = 0
        self.logprobs = logprobs

    async def run(self, deltas: AsyncIterator[Delta], first: Delta | None, include_usage: bool) -> AsyncIterator[str]:
        """The SSE events, ending in [DONE]. Events ready at the same moment go out as one
        write: the role chunk with the first delta's, the last choice's finishing chunk
        with the usage chunk and [DONE] (each write is a syscall and a wakeup on both ends)."""
        from ..api.protocol import Delta as DeltaOut

        # One role chunk per choice, each in its own event (as vLLM and OpenAI send them).
        ready = [self.chunk([ChunkChoice(index=i, delta=DeltaOut(role="assistant"))]) for i in range(len(self.shapers))]
        open_choices = len(self.shapers)
        try:
            async for delta in _chain(first, deltas):
                self.timer.delta()
                choice = self.choice(delta)
                if choice is not None:
                    ready.append(self.chunk([choice]))
                open_choices -= delta.finish_reason is not None
                if ready and open_choices > 0:  # after the last one, only usage and [DONE] are left
                    yield _sse(ready)
                    ready = []
        except APIError as exc:
            yield _sse([*ready, json.dumps(exc.body())], done=True)
            return
        self.timer.done(self.prompt_tokens, sum(self.tokens))
        if include_usage:
            ready.append(self.chunk([], _usage(self.prompt_tokens, self.tokens)))
        yield _sse(ready, done=True)

    def choice(self, delta: Delta) -> ChunkChoice | None:
        self.tokens[delta.index], self.prompt_tokens = delta.completion_tokens, delta.prompt_tokens
        reasoning, content = self.shapers[delta.index].feed(delta.text, final=delta.finish_reason is not None)
        if not (reasoning or content or delta.finish_reason or delta.logprobs):
            return None
        return ChunkChoice(
            index=delta.index,
            delta=delta_fields(reasoning, content),
            finish_reason=_reason(delta.finish_reason) if delta.finish_reason else None,
            logprobs=choice_logprobs(delta.logprobs) if self.logprobs and delta.logprobs else None,
        )

    def chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> str:
        body = ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=choices, usage=usage)
        return body.model_dump_json(exclude_none=True)


def _message(text: str, fmt: ReasoningFormat, raw: bool) -> AssistantMessage:
    if raw:
        return AssistantMessage(content=text)
    split = split_reasoning(text, fmt)
    return AssistantMessage(content=split.content, reasoning_content=split.reasoning, reasoning=split.reasoning)


async def _chain(first: Delta | None, rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


def _sse(events: list[str], done: bool = False) -> str:
    text = "".join(f"data: {event}\n\n" for event in events)
    return text + "data: [DONE]\n\n" if done else text


def _max_tokens_param(request: ChatCompletionRequest) -> str:
    return "max_tokens" if request.max_completion_tokens is None else "max_completion_tokens"


async def _guarded(deltas: AsyncIterator[Delta], max_tokens_param: str = "max_tokens") -> AsyncIterator[Delta]:
    try:
        with engine_errors(max_tokens_param):
            async for delta in deltas:
                yield delta
    finally:
        aclose = getattr(deltas, "aclose", None)  # engines' generate() is an async generator
        if aclose is not None:
            await aclose()


@contextlib.contextmanager
def engine_errors(max_tokens_param: str = "max_tokens") -> Iterator[None]:
    """Engine failures become API errors: the client's fault is a 4xx, ours a 5xx."""
    try:
        yield
    except PromptTooLongError as exc:
        raise APIError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except MaxTokensTooLargeError as exc:
        raise APIError(400, str(exc), param=max_tokens_param, code="context_length_exceeded") from None
    except EngineOverloadedError as exc:
        raise APIError(429, str(exc), code="server_busy", headers={"retry-after": str(exc.retry_after)}) from None
    except EngineError as exc:  # the seam's kinds carry their status: client 4xx, unavailable 502, timeout 504
        raise APIError(exc.status, str(exc), code=exc.code) from None


def _reason(reason: str | None) -> Literal["stop", "length"]:
    # An aborted choice only reaches a client that is still listening during shutdown.
    return "length" if reason == "length" else "stop"


def _usage(prompt_tokens: int, tokens: list[int]) -> Usage:
    completion = sum(tokens)
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion, total_tokens=prompt_tokens + completion)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
