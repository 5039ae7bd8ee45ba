"""The engine seam: what the HTTP layer may ask of any engine.

An engine turns a conversation plus sampling parameters into a stream of text
deltas per choice. The in-process transformers engine (engine/hf/) and the upstream
engine (engine/upstream/) implement it; nothing here names a backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Union, runtime_checkable

from PIL import Image

from ..constraint import Constraint
from ..families.base import ModelFamily
from ..families.registry import default_family


# ---- what an engine receives: roles, text and already-decoded media ----
# Media are decoded before they reach an engine, so every engine (in-process or an
# upstream server) sees exactly the same pixels and frames.
@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ImageInput:
    image: Image.Image


@dataclass(frozen=True)
class VideoInput:
    video: Any  # cosmos_reason.media.video.DecodedVideo


Part = Union[Text, ImageInput, VideoInput]


@dataclass(frozen=True)
class Turn:
    role: Literal["system", "user", "assistant"]
    parts: tuple[Part, ...]

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]

    def images(self) -> list[Image.Image]:
        return [p.image for t in self.turns for p in t.parts if isinstance(p, ImageInput)]

    def videos(self) -> list[Any]:
        return [p.video for t in self.turns for p in t.parts if isinstance(p, VideoInput)]


FinishReason = Literal["stop", "length", "abort"]


GREEDY_BELOW = 1e-5


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0  # the serving layer fills in the family's card defaults
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k filter
    min_p: float = 0.0  # 0 = no min-p filter
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0  # OpenAI semantics: subtracted once from every generated token's logit
    frequency_penalty: float = 0.0  # OpenAI semantics: subtracted per occurrence in the generated tokens
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit), sorted by id
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    ignore_eos: bool = False
    logprobs: bool = False
    top_logprobs: int = 0
    # The client chose max_tokens: more than the context leaves is refused (MaxTokensTooLargeError),
    # where a default max_tokens is cut to what fits.
    strict_max_tokens: bool = False
    constraint: Constraint | None = None  # structured output (constraint.py)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.n < 1:
            raise ValueError("n must be at least 1")

    @property
    def greedy(self) -> bool:
        """Temperatures below 1e-5 pick the most likely token, as vLLM does: dividing logits
        by a denormal temperature overflows to inf and the softmax to NaN."""
        return self.temperature < GREEDY_BELOW


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    conversation: Conversation
    sampling: SamplingParams


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token's log-probability under the model (before sampling
    adjustments), with the most likely alternatives when asked for."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Delta:
    """New text for one choice. The last delta of a choice carries its finish reason."""

    index: int
    text: str
    prompt_tokens: int
    completion_tokens: int  # so far, for this choice
    finish_reason: FinishReason | None = None
    logprobs: tuple[TokenLogprob, ...] = field(default=())


@dataclass(frozen=True)
class NextTokenScores:
    logprobs: dict[str, float]  # candidate -> log-probability of its first token
    prompt_tokens: int


@dataclass(frozen=True)
class ModelInfo:
    source: str  # folder or hub id it was loaded from
    context_length: int
    random_weights: bool = False
    vocab_size: int = 0  # logits per token (valid token ids are 0..vocab_size-1); 0 = unknown
    description: str = ""
    family: ModelFamily = field(default_factory=default_family)  # its reasoning format, recipes, defaults


@dataclass(frozen=True)
class EngineStats:
    """The engine's load at this moment, read by the metrics at scrape time."""

    running_rows: int = 0  # sequences being generated (a request with n=4 is four)
    running_requests: int = 0
    waiting_requests: int = 0  # accepted, not started yet


class EngineError(RuntimeError):
    """The engine failed. The HTTP layer answers with `status` and `code`; the subclasses
    below say whose fault it is, and each backend raises them (or its own subclasses)."""

    status = 500  # the HTTP status the API answers with
    code = "engine_error"


class EngineOverloadedError(EngineError):
    """Too many requests are waiting; the client should retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineClientError(EngineError):
    """The backend refused the request as the client's mistake (a 4xx); the message says why."""

    code = "invalid_request"

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class EngineUnavailableError(EngineError):
    """The backend could not serve: unreachable, dropped the connection, or failed."""

    status = 502
    code = "engine_unavailable"


class EngineTimeoutError(EngineUnavailableError):
    """The backend did not answer in time."""

    status = 504
    code = "engine_timeout"


class PromptTooLongError(EngineClientError):
    """The prompt (with its media tokens) leaves no room in the context window."""

    def __init__(self, prompt_tokens: int, context_length: int) -> None:
        super().__init__(
            f"the prompt needs {prompt_tokens} tokens (media included) but the model's context is "
            f"{context_length} tokens; shorten the text or send smaller or fewer images/videos"
        )
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length


class MaxTokensTooLargeError(EngineClientError):
    """The client's max_tokens does not fit in the context beside the prompt."""

    def __init__(self, max_tokens: int, prompt_tokens: int, context_length: int) -> None:
        room = context_length - prompt_tokens
        super().__init__(
            f"max_tokens is {max_tokens}, but the model's context is {context_length} tokens and the prompt "
            f"takes {prompt_tokens} (media included), which leaves {room}; ask for at most {room} tokens, "
            f"or leave max_tokens out to get the server's default cut to what fits"
        )
        self.max_tokens = max_tokens
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length


@runtime_checkable
class Engine(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Stream deltas; closing the iterator early aborts the generation."""
        ...

    async def next_token_logprobs(self, request: GenerationRequest, candidates: tuple[str, ...]) -> NextTokenScores:
        """Log-probabilities of each candidate's first token as the answer's first token
        (one forward pass, full-vocabulary softmax)."""
        ...

    async def abort(self, request_id: str) -> None: ...

    def stats(self) -> EngineStats:
        """What is running and waiting now (cheap: called on every metrics scrape)."""
        ...

    async def check_health(self) -> None:
        """Raise EngineError when the engine cannot serve."""
        ...

    async def shutdown(self) -> None: ...
