"""`--engine upstream`: generation on one or more OpenAI-compatible servers (vLLM, SGLang,
or another cosmos-reason), behind the same Engine seam as the in-process engine.

Everything in front of the engine stays ours: auth, the media pipeline (fetching, limits,
decoding, sampling), task recipes, the reasoning instruction and split, usage, errors. The
upstream gets the already-built conversation and is asked for the model's raw text:

* messages: system/assistant text as strings, user turns as text/image_url/video_url parts
  in their order (the chat template renders them as our engine does);
* sampling: max_tokens, temperature, top_p, top_k and min_p (when set), repetition_penalty,
  presence/frequency_penalty and logit_bias (when set), seed, stop, n, ignore_eos,
  logprobs/top_logprobs, always with `stream: true` and
  `stream_options.include_usage`, so that usage is the upstream's exact token counts;
* our own server also gets `raw_output: true` (no reasoning split there: ours runs here)
  and `reasoning: false` (the instruction, if any, is already in the messages). Run vLLM
  without `--reasoning-parser`; if it splits anyway, its reasoning text is put back in
  front of the content, untagged;
* a strict OpenAI server (`api=openai`, e.g. `transformers serve`) gets the standard
  fields only: repetition_penalty, top_k, min_p and ignore_eos are not sent (logged once).

Media (see upstream_media.py): the frames our pipeline decoded and sampled, never the
original file, so the upstream computes the same vision tokens as our engine would: for
vLLM a pre-sampled frame list (`data:video/jpeg;base64,...`, PNG frames by default) with
`media_io_kwargs.video = {num_frames: -1, fps: <sampled fps>}` and
`mm_processor_kwargs = {do_sample_frames: false}`; for our own server a lossless FFV1 file
at the sampled rate with `nframes`/`min_pixels`/`max_pixels` pinning every frame. Images:
lossless PNG. The price is bandwidth: decoded frames are bigger than the compressed
original (benchmarks/results/upstream.json has the bytes per 60 s video).

Balancing, failover and errors:

* each request goes to the healthy upstream with the fewest requests in flight
  (upstream_pool.py); a connection error, timeout, 5xx, 401/403/404 or an error event
  takes that upstream out until a background probe brings it back;
* a request that fails before its first delta reached our client is retried once on
  another upstream; after that, the failure ends the answer with an error;
* the upstream's 400/413/422 comes back as our 400/413 with its message; its 429 is
  retried elsewhere and becomes our 429 when nobody can take it; a failure is our 502,
  a timeout our 504, and no upstream at all a 502 at once;
* closing our delta iterator (the client went away) closes the upstream HTTP stream,
  which makes vLLM and our own server abort the generation.

Counts: the upstream sends usage once, after every choice has finished, so each choice's
last delta (the one with its finish reason) is held back until usage arrives and then
carries the exact totals (with n > 1 the split between choices is estimated from the
chunks; the sum is exact).

/v1/score (`next_token_logprobs`): one greedy token with `logprobs` and `top_logprobs=20`
(vLLM's default maximum). A candidate's logprob is that of the top-20 entry equal to it,
else of the longest entry it starts with (its first token). A candidate outside the top 20
gets the lowest of the 20: its true logprob is at most that, so the value is an upper
bound and p_yes/p_no stay finite and conservative, never made up below the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..conversation import Conversation, ImageInput, Text, VideoInput
from .base import (
    Delta,
    EngineError,
    EngineOverloadedError,
    FinishReason,
    GenerationRequest,
    ModelInfo,
    NextTokenScores,
    SamplingParams,
    TokenLogprob,
    UpstreamClientError,
    UpstreamError,
    UpstreamTimeoutError,
)
from .upstream_pool import (
    Upstream,
    UpstreamPool,
    describe_transport_error,
    parse_upstream,
)

log = logging.getLogger(__name__)

#: Tries per request: the first upstream and one other.
MAX_ATTEMPTS = 2
#: Alternatives asked for when scoring (vLLM's default --max-logprobs, our server's maximum).
SCORE_TOP_LOGPROBS = 20
_CLIENT_STATUSES = {400: 400, 413: 413, 422: 400}
_JSON_HEADERS = {"content-type": "application/json"}


class UpstreamEngine:
    def __init__(self, pool: UpstreamPool) -> None:
        from .upstream_media import encoder_pool

        self.pool = pool
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
            vocab_size=_int(card.get("vocab_size")) or 0,  # our own servers say; vLLM checks logit_bias itself
            description=f"{described} (served by {len(self.pool.upstreams)} upstream server(s): {names})",
        )

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        bodies = _Bodies(request, self.encoders)
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
        sampling = SamplingParams(max_tokens=1, temperature=0.0, top_p=1.0, repetition_penalty=1.0,
                                  logprobs=True, top_logprobs=SCORE_TOP_LOGPROBS)
        first: TokenLogprob | None = None
        prompt_tokens = 0
        async with contextlib.aclosing(self.generate(GenerationRequest(request.request_id, request.conversation, sampling))) as deltas:
            async for delta in deltas:
                prompt_tokens = delta.prompt_tokens
                if first is None and delta.logprobs:
                    first = delta.logprobs[0]
        if first is None:
            raise UpstreamError("the upstream returned no logprobs; it must support logprobs/top_logprobs for /v1/score")
        return NextTokenScores(candidate_logprobs(first, candidates), prompt_tokens)

    async def abort(self, request_id: str) -> None:
        """Stop the request: its upstream stream is closed, its choices end as aborted."""
        for inflight in list(self._inflight.get(request_id, ())):
            inflight.aborted = True
            if inflight.response is not None:
                inflight.response.close()  # drops the connection: the upstream sees the client go

    async def check_health(self) -> None:
        if not self.pool.healthy():
            await self.pool.refresh()
        if not self.pool.healthy():
            raise EngineError(f"no upstream server is available ({self.pool.describe_down()})")

    async def shutdown(self) -> None:
        await self.pool.close()
        await asyncio.to_thread(self.encoders.shutdown)

    # ------------------------------------------------------------------ one attempt

    async def _stream(self, upstream: Upstream, body: bytes, request: GenerationRequest) -> AsyncIterator[Delta]:
        inflight = _Inflight()
        self._inflight.setdefault(request.request_id, []).append(inflight)
        reader = _StreamReader(request.sampling.n)
        url = f"{upstream.spec.base_url}/chat/completions"
        try:
            async with upstream.http().post(url, data=body, headers=_JSON_HEADERS) as response:
                inflight.response = response
                if response.status >= 400:
                    raise self._http_error(upstream, response.status, _error_message(response.status,
                                                                                      await response.read()))
                async for data in _sse_data(response.content):
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
            raise UpstreamError(f"upstream server {upstream.name} sent a stream event that is not JSON: "
                                f"{data[:200].decode(errors='replace')!r}") from None
        if not isinstance(event, dict):
            raise UpstreamError(f"upstream server {upstream.name} sent an unexpected stream event: "
                                f"{data[:200].decode(errors='replace')!r}")
        if "error" in event or event.get("object") == "error":
            error = event.get("error") if isinstance(event.get("error"), dict) else event
            status = _int(error.get("code")) or _int(error.get("status")) or \
                (400 if error.get("type") == "invalid_request_error" else 500)
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
    response: aiohttp.ClientResponse | None = None
    aborted: bool = False


async def _sse_data(body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The `data:` fields of a server-sent event stream, to the body's end. Lines are split
    here rather than with the reader's readline, whose line length is capped (64 KiB)."""
    pending = b""
    async for chunk in body.iter_any():
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if pending.startswith(b"data:"):
        yield pending[5:].strip()


class _StreamReader:
    """Upstream chat-completion chunks -> our deltas, holding each choice's last delta
    until the usage chunk gives the exact counts."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.counts = [0] * n
        self.finals: dict[int, Delta] = {}
        self.usage: dict[str, Any] | None = None
        self.released = False
        self.events = 0

    def feed(self, event: dict[str, Any]) -> list[Delta]:
        self.events += 1
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        out: list[Delta] = []
        for choice in event.get("choices") or ():
            index = _int(choice.get("index")) or 0
            if not 0 <= index < self.n:
                raise UpstreamError(f"upstream sent choice {index} for a request of {self.n}")
            delta = choice.get("delta") or {}
            text = (delta.get("reasoning") or delta.get("reasoning_content") or "") + (delta.get("content") or "")
            logprobs = parse_logprobs(choice.get("logprobs"))
            self.counts[index] += len(logprobs) if logprobs else int(bool(text))
            finish = choice.get("finish_reason")
            if finish is not None:
                self.finals[index] = Delta(index, text, 0, 0, _finish(finish), logprobs)
            elif text or logprobs:
                out.append(Delta(index, text, self.prompt_tokens, self.counts[index], None, logprobs))
        if self.usage is not None and len(self.finals) == self.n and not self.released:
            out.extend(self._release())
        return out

    @property
    def prompt_tokens(self) -> int:
        return _int((self.usage or {}).get("prompt_tokens")) or 0

    def finish(self, name: str) -> list[Delta]:
        if self.released:
            return []
        if len(self.finals) < self.n:
            raise UpstreamError(f"upstream server {name} ended its answer before every choice finished")
        log.warning("upstream server %s sent no usage; completion token counts are estimated", name)
        return self._release()

    def abort(self) -> list[Delta]:
        """Last deltas of an aborted request: what was held back, the rest marked aborted."""
        if self.released:
            return []
        self.released = True
        out = [self.finals.get(i) or Delta(i, "", self.prompt_tokens, self.counts[i], "abort") for i in range(self.n)]
        return [Delta(d.index, d.text, self.prompt_tokens, self.counts[d.index], d.finish_reason, d.logprobs) for d in out]

    def _release(self) -> list[Delta]:
        self.released = True
        tokens = list(self.counts)
        total = _int((self.usage or {}).get("completion_tokens"))
        if total is not None:
            tokens[-1] = max(0, total - sum(tokens[:-1]))
        return [
            Delta(i, self.finals[i].text, self.prompt_tokens, tokens[i], self.finals[i].finish_reason, self.finals[i].logprobs)
            for i in range(self.n)
        ]


@dataclass
class _Bodies:
    """The request's JSON body per kind of upstream, built once (media encoding is the
    expensive part and runs on worker threads)."""

    request: GenerationRequest
    encoders: Executor | None = None
    cache: dict[tuple, bytes] = field(default_factory=dict)

    async def get(self, upstream: Upstream) -> bytes:
        key = (upstream.api, upstream.spec.frames, upstream.model)
        if key not in self.cache:
            conversation, sampling = self.request.conversation, self.request.sampling
            has_media = any(not isinstance(p, Text) for t in conversation.turns for p in t.parts)
            build = lambda: chat_body(conversation, sampling, upstream.model, upstream.api, upstream.spec.frames,
                                      self.encoders)
            try:
                body = await asyncio.to_thread(build) if has_media else build()
            except ValueError as exc:
                raise UpstreamClientError(str(exc)) from None
            self.cache[key] = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if upstream.api == "openai" and not upstream.warned and dropped_fields(sampling):
                upstream.warned = True
                log.warning("upstream %s takes standard OpenAI fields only (api=openai): %s not sent",
                            upstream.name, ", ".join(dropped_fields(sampling)))
        return self.cache[key]


def chat_body(conversation: Conversation, sampling: SamplingParams, model: str | None, api: str,
              frames: str = "png", encoders: Executor | None = None) -> dict[str, Any]:
    """The upstream chat-completions request for a conversation (see the module docstring); video
    frames are encoded on `encoders` (the engine's), or on a pool of their own."""
    from . import upstream_media as media

    messages: list[dict[str, Any]] = []
    videos = []
    for turn in conversation.turns:
        if all(isinstance(part, Text) for part in turn.parts):
            messages.append({"role": turn.role, "content": turn.text()})
            continue
        content: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, Text):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImageInput):
                content.append({"type": "image_url", "image_url": {"url": media.image_data_uri(part.image)}})
            elif isinstance(part, VideoInput):
                videos.append(part.video)
                video = media.cosmos_video_part(part.video) if api == "cosmos" else \
                    {"url": media.video_frames_data_uri(part.video, frames, encoders)}
                content.append({"type": "video_url", "video_url": video})
        messages.append({"role": turn.role, "content": content})
    body: dict[str, Any] = {
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "n": sampling.n,
    }
    if model:
        body["model"] = model
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.presence_penalty:
        body["presence_penalty"] = sampling.presence_penalty
    if sampling.frequency_penalty:
        body["frequency_penalty"] = sampling.frequency_penalty
    if sampling.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in sampling.logit_bias}
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if api != "openai":  # vLLM's (and SGLang's, and our) extensions; strict servers refuse them
        body["repetition_penalty"] = sampling.repetition_penalty
        if sampling.top_k > 0:
            body["top_k"] = sampling.top_k
        if sampling.min_p > 0:
            body["min_p"] = sampling.min_p
        if sampling.ignore_eos:
            body["ignore_eos"] = True
    if sampling.logprobs:
        body["logprobs"] = True
        if sampling.top_logprobs:
            body["top_logprobs"] = sampling.top_logprobs
    if api == "cosmos":
        body["raw_output"] = True
        body["reasoning"] = False
    elif videos:
        body.update(media.vllm_video_kwargs(videos))
    return body


def dropped_fields(sampling: SamplingParams) -> list[str]:
    """Sampling settings a strict OpenAI server (api=openai) can't be given."""
    return [name for name, given in (("repetition_penalty", sampling.repetition_penalty != 1.0),
                                     ("top_k", sampling.top_k > 0), ("min_p", sampling.min_p > 0),
                                     ("ignore_eos", sampling.ignore_eos)) if given]


def parse_logprobs(value: Any) -> tuple[TokenLogprob, ...]:
    if not isinstance(value, dict) or not isinstance(value.get("content"), list):
        return ()
    out = []
    for entry in value["content"]:
        top = tuple((str(t.get("token", "")), float(t.get("logprob", 0.0))) for t in entry.get("top_logprobs") or ())
        out.append(TokenLogprob(str(entry.get("token", "")), float(entry.get("logprob", 0.0)), top))
    return tuple(out)


def candidate_logprobs(first: TokenLogprob, candidates: tuple[str, ...]) -> dict[str, float]:
    """Each candidate's first-token logprob from one generated token's alternatives
    (see the module docstring for the matching rule and the bound for absent ones)."""
    table: dict[str, float] = {}
    for token, logprob in ((first.token, first.logprob), *first.top):
        table[token] = max(logprob, table.get(token, float("-inf")))
    floor = min(table.values())
    scores = {}
    for candidate in candidates:
        if candidate in table:
            scores[candidate] = table[candidate]
            continue
        prefixes = [t for t in table if t.strip() and candidate.startswith(t)]
        scores[candidate] = table[max(prefixes, key=len)] if prefixes else floor
    return scores


def _finish(reason: str) -> FinishReason:
    return "length" if reason == "length" else ("abort" if reason == "abort" else "stop")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_message(status: int, raw: bytes) -> str:
    """The upstream's own error message: OpenAI's envelope, vLLM's older one, FastAPI's, or text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:1000] or f"HTTP {status}"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key]) if not isinstance(body[key], list) else json.dumps(body[key])[:1000]
    return json.dumps(body)[:1000]


def create_upstream_engine(settings) -> UpstreamEngine:
    pool = UpstreamPool([parse_upstream(text) for text in settings.upstreams])
    pool.discover()
    return UpstreamEngine(pool)
