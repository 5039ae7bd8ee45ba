"""Request fields + defaults (server flags over the family's card) -> the engine's SamplingParams."""

from __future__ import annotations

from ..api.protocol import ChatCompletionRequest
from ..constraint import Constraint
from ..engine.base import SamplingParams
from ..errors import APIError
from ..families.base import SamplingDefaults


def sampling_params(
    request: ChatCompletionRequest,
    defaults: SamplingDefaults,
    max_n: int,
    strict_max_tokens: bool = False,
    constraint: Constraint | None = None,
) -> SamplingParams:
    """`strict_max_tokens`: the client (not a recipe or the server default) chose max_tokens."""
    if request.n > max_n:
        raise APIError(400, f"n: at most {max_n} choices per request, got {request.n}", param="n")
    max_tokens = request.max_completion_tokens or request.max_tokens or defaults.max_tokens
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=_pick(request.temperature, defaults.temperature),
        top_p=_pick(request.top_p, defaults.top_p),
        top_k=max(_pick(request.top_k, defaults.top_k), 0),  # -1 (vLLM's "off") and 0 both mean off
        min_p=request.min_p or 0.0,
        repetition_penalty=_pick(request.repetition_penalty, defaults.repetition_penalty),
        presence_penalty=_pick(request.presence_penalty, defaults.presence_penalty),
        frequency_penalty=request.frequency_penalty or 0.0,
        logit_bias=tuple(sorted((request.logit_bias or {}).items())),
        seed=request.seed,
        stop=request.stop_strings(),
        n=request.n,
        ignore_eos=request.ignore_eos,
        logprobs=request.logprobs,
        top_logprobs=request.top_logprobs or 0,
        strict_max_tokens=strict_max_tokens,
        constraint=constraint,
    )


def _pick(value, default):
    return default if value is None else value
