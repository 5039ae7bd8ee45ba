"""The upstream wire format: the chat-completions request body we send, and the
server-sent event stream we read back (engine.py does the sending and failover).

* messages: system/assistant text as strings, user turns as text/image_url/video_url parts
  in their order (the chat template renders them as our engine does);
* sampling: max_tokens, temperature, top_p, top_k (-1 when off), min_p, repetition_penalty,
  presence/frequency_penalty, all always (a field left out would get the upstream's own
  default, e.g. a Reason2 server's presence_penalty 1.5; to a strict OpenAI server the
  penalties only when not 0), logit_bias, seed, stop, n, ignore_eos,
  logprobs/top_logprobs, always with `stream: true` and
  `stream_options.include_usage`, so that usage is the upstream's exact token counts;
* structured output as the upstream's own field (constraint_fields.py; refused where it cannot be said);
* our own server also gets `raw_output: true` (no reasoning split there: ours runs here)
  and `reasoning: false` (the instruction, if any, is already in the messages). Run vLLM
  without `--reasoning-parser`; if it splits anyway, its reasoning text is put back in
  front of the content, untagged;
* a strict OpenAI server (`api=openai`, e.g. `transformers serve`) gets the standard
  fields only: repetition_penalty, top_k, min_p and ignore_eos are not sent (logged once).

Media (see media.py): the frames our pipeline decoded and sampled, never the
original file, so the upstream computes the same vision tokens as our engine would: for
vLLM a pre-sampled frame list (`data:video/jpeg;base64,...`, PNG frames by default) with
the family's `media_io_kwargs.video` (Reason1: `{num_frames: -1, fps: <sampled fps>}`;
Reason2 adds the source fps and frame indices its timestamps come from) and
`mm_processor_kwargs = {do_sample_frames: false}`; for our own server a lossless FFV1 file
at the sampled rate with `nframes`/`min_pixels`/`max_pixels` pinning every frame and
`sampled_from` carrying the source timing. Images:
lossless PNG. The price is bandwidth: decoded frames are bigger than the compressed
original (benchmarks/results/upstream.json has the bytes per 60 s video).

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

import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Any

import aiohttp

from ...families.base import ModelFamily
from ..base import Conversation, Delta, FinishReason, ImageInput, SamplingParams, Text, TokenLogprob, VideoInput
from .constraint_fields import constraint_fields
from .errors import UpstreamError

log = logging.getLogger(__name__)


async def sse_data(body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
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


class StreamReader:
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
            index = as_int(choice.get("index")) or 0
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
        return as_int((self.usage or {}).get("prompt_tokens")) or 0

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
        return [
            Delta(d.index, d.text, self.prompt_tokens, self.counts[d.index], d.finish_reason, d.logprobs) for d in out
        ]

    def _release(self) -> list[Delta]:
        self.released = True
        tokens = list(self.counts)
        total = as_int((self.usage or {}).get("completion_tokens"))
        if total is not None:
            tokens[-1] = max(0, total - sum(tokens[:-1]))
        return [
            Delta(
                i,
                self.finals[i].text,
                self.prompt_tokens,
                tokens[i],
                self.finals[i].finish_reason,
                self.finals[i].logprobs,
            )
            for i in range(self.n)
        ]


def chat_body(
    conversation: Conversation,
    sampling: SamplingParams,
    model: str | None,
    api: str,
    family: ModelFamily,
    frames: str = "png",
    encoders: Executor | None = None,
) -> dict[str, Any]:
    """The upstream chat-completions request for a conversation (see the module docstring); video
    frames are encoded on `encoders` (the engine's), or on a pool of their own."""
    from . import media

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
                video = (
                    media.cosmos_video_part(part.video)
                    if api == "cosmos"
                    else {"url": media.video_frames_data_uri(part.video, frames, encoders)}
                )
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
    # To vLLM and ours always, zeros included: where a field is left out the upstream fills in
    # its own default (a Reason2 server's presence_penalty 1.5 without reasoning, vLLM's from the
    # checkpoint's generation_config), not the one we chose. A strict OpenAI server's default is
    # OpenAI's 0 (and `transformers serve` reads a 0 frequency_penalty as a repetition penalty).
    for name in ("presence_penalty", "frequency_penalty"):
        if api != "openai" or getattr(sampling, name):
            body[name] = getattr(sampling, name)
    if sampling.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in sampling.logit_bias}
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if api != "openai":  # vLLM's (and SGLang's, and our) extensions; strict servers refuse them
        body["repetition_penalty"] = sampling.repetition_penalty
        body["top_k"] = sampling.top_k if sampling.top_k > 0 else -1  # -1: off, in vLLM, SGLang and ours
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
        body.update(family.upstream_video_fields(videos))
    body.update(constraint_fields(sampling.constraint, api))  # engine/upstream/constraint_fields.py
    return body


def dropped_fields(sampling: SamplingParams) -> list[str]:
    """Sampling settings a strict OpenAI server (api=openai) can't be given."""
    return [
        name
        for name, given in (
            ("repetition_penalty", sampling.repetition_penalty != 1.0),
            ("top_k", sampling.top_k > 0),
            ("min_p", sampling.min_p > 0),
            ("ignore_eos", sampling.ignore_eos),
        )
        if given
    ]


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


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def error_message(status: int, raw: bytes) -> str:
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
