"""`--engine upstream`: generation on one or more OpenAI-compatible servers (vLLM, SGLang,
or another cosmos-reason), behind the same Engine seam as the in-process engine.

Everything in front of the engine stays ours: auth, the media pipeline (fetching, limits,
decoding, sampling), task recipes, the reasoning instruction and split, usage, errors. The
upstream gets the already-built conversation and is asked for the model's raw text;
wire.py says what is sent (messages, sampling, media) and how the answer's stream is read.

Balancing, failover and errors:

* each request goes to the healthy upstream with the fewest requests in flight
  (pool.py); a connection error, timeout, 5xx, 401/403/404 or an error event
  takes that upstream out until a background probe brings it back;
* a request that fails before its first delta reached our client is retried once on
  another upstream; after that, the failure ends the answer with an error;
* the upstream's 400/413/422 comes back as our 400/413 with its message; its 429 is
  retried elsewhere and becomes our 429 when nobody can take it; a failure is our 502,
  a timeout our 504, and no upstream at all a 502 at once;
* closing our delta iterator (the client went away) closes the upstream HTTP stream,
  which makes vLLM and our own server abort the generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ...families.base import ModelFamily
from ...families.registry import default_family, family_named
from ..base import (
    Delta,
    EngineError,
    EngineOverloadedError,
    EngineStats,
    EngineUnavailableError,
    GenerationRequest,
    ModelInfo,
    NextTokenScores,
    SamplingParams,
    Text,
    TokenLogprob,
)
from .errors import UpstreamClientError, UpstreamError, UpstreamTimeoutError
from .pool import (
    Upstream,
    UpstreamPool,
    describe_transport_error,
    parse_upstream,
)
from .wire import StreamReader, as_int, candidate_logprobs, chat_body, dropped_fields, error_message, sse_data

log = logging.getLogger(__name__)

#: Tries per request: the first upstream and one other.
MAX_ATTEMPTS = 2
#: Alternatives asked for when scoring (vLLM's default --max-logprobs, our server's maximum).
SCORE_TOP_LOGPROBS = 20
_CLIENT_STATUSES = {400: 400, 413: 413, 422: 400}
_JSON_HEADERS = {"content-type": "application/json"}


class UpstreamEngine:
    def __init__(self, pool: UpstreamPool, family: ModelFamily | None = None) -> None:
        from .media import encoder_pool

        self.pool = pool
        self.family = family or default_family()
        self.encoders = encoder_pool()  # media encoding for request bodies; shut down with the engine
        self._inflight: dict[str, list[_Inflight]] = {}  # request id -> its attempts running now

    # ------------------------------------------------------------------ Engine seam

    @property
    def info(self) -> ModelInfo:
        card = next((u.card for u in self.pool.upstreams if u.card), None) or {}
        names = ", ".join(u.name for u in self.pool.upstreams)
        described = card.get("description") or f"{card.get('id') or 'the model'}"
        return ModelInfo(
            source=str(card.get("root") or card.get("id") or names),
            context_length=int(card.get("max_model_len") or 0),
            random_weights=bool(card.get("random_weights", False)),
            vocab_size=as_int(card.get("vocab_size")) or 0,  # our own servers say; vLLM checks logit_bias itself
            description=f"{described} (served by {len(self.pool.upstreams)} upstream server(s): {names})",
            family=self.family,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        bodies = _Bodies(request, self.family, self.encoders)
        tried: list[Upstream] = []
        error: EngineError | None = None
        for _ in range(MAX_ATTEMPTS):
            upstream = self.pool.pick(tried)
            if upstream is None and not self.pool.healthy():
                await self.pool.refresh()
                upstream = self.pool.pick(tried)
            if upstream is None:
                break
            tried.append(upstream)
            started = False
            upstream.outstanding += 1  # counted from the pick on: encoding media takes a while
            try:
                body = await bodies.get(upstream)
                async with contextlib.aclosing(self._stream(upstream, body, request)) as deltas:
                    async for delta in deltas:
                        started = True
                        yield delta
                return
            except (UpstreamError, EngineOverloadedError) as exc:
                if started:
                    raise
                error = exc
                log.warning("request %s: %s failed before its first token (%s)", request.request_id, upstream.name, exc)
            finally:
                upstream.outstanding -= 1
        if error is not None:
            raise error  # the last failure says more than "none left"
        raise self._none_available()

    async def next_token_logprobs(self, request: GenerationRequest, candidates: tuple[str, ...]) -> NextTokenScores:
        sampling = SamplingParams(
            max_tokens=1,
            temperature=0.0,
            top_p=1.0,
            repetition_penalty=1.0,
            logprobs=True,
            top_logprobs=SCORE_TOP_LOGPROBS,
        )
        first: TokenLogprob | None = None
        prompt_tokens = 0
        async with contextlib.aclosing(
            self.generate(GenerationRequest(request.request_id, request.conversation, sampling))
        ) as deltas:
            async for delta in deltas:
                prompt_tokens = delta.prompt_tokens
                if first is None and delta.logprobs:
                    first = delta.logprobs[0]
        if first is None:
            raise UpstreamError(
                "the upstream returned no logprobs; it must support logprobs/top_logprobs for /v1/score"
            )
        return NextTokenScores(candidate_logprobs(first, candidates), prompt_tokens)

    async def abort(self, request_id: str) -> None:
        """Stop the request: its upstream stream is closed, its choices end as aborted."""
        for inflight in list(self._inflight.get(request_id, ())):
            inflight.aborted = True
            if inflight.response is not None:
                inflight.response.close()  # drops the connection: the upstream sees the client go

    def stats(self) -> EngineStats:
        """Requests streaming from an upstream now; the queueing happens on the upstreams."""
        attempts = [a for running in self._inflight.values() for a in running]
        return EngineStats(running_rows=sum(a.n for a in attempts), running_requests=len(self._inflight))

    async def check_health(self) -> None:
        if not self.pool.healthy():
            await self.pool.refresh()
        if not self.pool.healthy():
            raise EngineUnavailableError(f"no upstream server is available ({self.pool.describe_down()})")

    async def shutdown(self) -> None:
        await self.pool.close()
        await asyncio.to_thread(self.encoders.shutdown)

    # ------------------------------------------------------------------ one attempt

    async def _stream(self, upstream: Upstream, body: bytes, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        inflight = _Inflight(n=request.sampling.n)
        self._inflight.setdefault(request.request_id, []).append(inflight)
        reader = StreamReader(request.sampling.n)
        url = f"{upstream.spec.base_url}/chat/completions"
        try:
            async with upstream.http().post(url, data=body, headers=_JSON_HEADERS) as response:
                inflight.response = response
                if response.status >= 400:
                    raise self._http_error(
                        upstream, response.status, error_message(response.status, await response.read())
                    )
                async for data in sse_data(response.content):
                    # Read to the body's end (it ends right after [DONE]), so that the connection
                    # goes back to the pool instead of being closed half-read.
                    if data != b"[DONE]":
                        for delta in reader.feed(self._event(upstream, data)):
                            yield delta
            if inflight.aborted:
                for delta in reader.abort():
                    yield delta
                return
            for delta in reader.finish(upstream.name):
                yield delta
        except (TimeoutError, asyncio.TimeoutError) as exc:  # aiohttp's (ClientErrors too); one class from 3.11
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                reason = f"no connection within {upstream.spec.connect_timeout:g} s"
            else:
                reason = f"no answer within {upstream.spec.timeout:g} s"
            self.pool.mark_failed(upstream, reason)
            raise UpstreamTimeoutError(f"upstream server {upstream.name} timed out: {reason}") from None
        except (aiohttp.ClientError, OSError) as exc:
            if inflight.aborted:
                for delta in reader.abort():
                    yield delta
                return
            reason = describe_transport_error(exc)
            self.pool.mark_failed(upstream, reason)
            where = "during the answer" if reader.events else "before answering"
            raise UpstreamError(f"upstream server {upstream.name} failed {where}: {reason}") from None
        finally:
            attempts = self._inflight.get(request.request_id, [])
            if inflight in attempts:
                attempts.remove(inflight)
            if not attempts:
                self._inflight.pop(request.request_id, None)

    def _event(self, upstream: Upstream, data: bytes) -> dict[str, Any]:
        try:
            event = json.loads(data)
        except ValueError:
            self.pool.mark_failed(upstream, "sent a stream event that is not JSON")
            raise UpstreamError(
                f"upstream server {upstream.name} sent a stream event that is not JSON: "
                f"{data[:200].decode(errors='replace')!r}"
            ) from None
        if not isinstance(event, dict):
            raise UpstreamError(
                f"upstream server {upstream.name} sent an unexpected stream event: "
                f"{data[:200].decode(errors='replace')!r}"
            )
        if "error" in event or event.get("object") == "error":
            inner = event.get("error")
            error = inner if isinstance(inner, dict) else event
            status = (
                as_int(error.get("code"))
                or as_int(error.get("status"))
                or (400 if error.get("type") == "invalid_request_error" else 500)
            )
            raise self._http_error(upstream, status, str(error.get("message") or error))
        return event

    def _http_error(self, upstream: Upstream, status: int, message: str) -> Exception:
        if status in _CLIENT_STATUSES:
            return UpstreamClientError(message, _CLIENT_STATUSES[status])
        if status == 429:
            return EngineOverloadedError(f"upstream server {upstream.name} is busy: {message}")
        if status >= 500 or status in (401, 403, 404):
            self.pool.mark_failed(upstream, f"answered {status}: {message[:200]}")
        return UpstreamError(f"upstream server {upstream.name} answered {status}: {message}")

    def _none_available(self) -> UpstreamError:
        count = len(self.pool.upstreams)
        return UpstreamError(f"no upstream server is available ({count} configured; {self.pool.describe_down()})")


@dataclass(eq=False)
class _Inflight:
    n: int = 1  # choices
    response: aiohttp.ClientResponse | None = None
    aborted: bool = False


@dataclass
class _Bodies:
    """The request's JSON body per kind of upstream, built once (media encoding is the
    expensive part and runs on worker threads)."""

    request: GenerationRequest
    family: ModelFamily
    encoders: Executor | None = None
    cache: dict[tuple, bytes] = field(default_factory=dict)

    async def get(self, upstream: Upstream) -> bytes:
        key = (upstream.api, upstream.spec.frames, upstream.model)
        if key not in self.cache:
            conversation, sampling = self.request.conversation, self.request.sampling
            has_media = any(not isinstance(p, Text) for t in conversation.turns for p in t.parts)

            def build() -> dict:
                return chat_body(
                    conversation,
                    sampling,
                    upstream.model,
                    upstream.api,
                    self.family,
                    upstream.spec.frames,
                    self.encoders,
                )

            try:
                body = await asyncio.to_thread(build) if has_media else build()
            except ValueError as exc:
                raise UpstreamClientError(str(exc)) from None
            self.cache[key] = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if upstream.api == "openai" and not upstream.warned and dropped_fields(sampling):
                upstream.warned = True
                log.warning(
                    "upstream %s takes standard OpenAI fields only (api=openai): %s not sent",
                    upstream.name,
                    ", ".join(dropped_fields(sampling)),
                )
        return self.cache[key]


def create_upstream_engine(settings) -> UpstreamEngine:
    pool = UpstreamPool([parse_upstream(text) for text in settings.upstreams])
    pool.discover()
    return UpstreamEngine(pool, family_named(settings.family) if settings.family else None)
