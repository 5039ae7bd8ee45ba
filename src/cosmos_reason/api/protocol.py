"""OpenAI chat-completions wire format: what clients send and what we answer.

Request models accept unknown fields (OpenAI clients send extras such as `user`); the
chat service refuses the known ones that would change the output (chat/fields.py) and
logs the rest. A declared field sent as null means its default.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    field_validator,
    model_serializer,
    model_validator,
)

from ..media.options import MEDIA_OPTION_NAMES, MediaOptions


class _Lenient(BaseModel):
    """Unknown fields are kept (see chat/fields.py for the ones refused); a declared field
    sent as null means "not given", as the openai SDK's types allow null for every optional field."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}
        return data


# vLLM's range (a signed 64-bit integer): the engines' random generators take no more.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
Seed = Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)]
# Below this a repetition penalty multiplies repeated tokens' logits past any sane
# range (1e-300 overflows to inf); 0.01 already makes a repeat 100 times likelier.
MIN_REPETITION_PENALTY = 0.01


class MediaOverrides(BaseModel):
    """The wire form of media options (per request or per part, qwen-vl-utils' names): checked
    here, then carried as media.options.MediaOptions; unset = the layer below decides."""

    model_config = ConfigDict(extra="forbid")

    fps: float | None = Field(default=None, gt=0, le=120)
    nframes: int | None = Field(default=None, ge=2)
    min_pixels: int | None = Field(default=None, gt=0)
    max_pixels: int | None = Field(default=None, gt=0)
    total_pixels: int | None = Field(default=None, gt=0)
    min_frames: int | None = Field(default=None, ge=2)
    max_frames: int | None = Field(default=None, ge=2)
    video_start: float | None = Field(default=None, ge=0)
    video_end: float | None = Field(default=None, gt=0)
    timestamp: StrictBool | None = None  # Cosmos-Reason1's burnt-in frame times (media/overlay.py)

    def options(self) -> MediaOptions:
        return MediaOptions(**self.model_dump(exclude_none=True))


class SampledFrom(BaseModel):
    """A video_url part's frames are already sampled: they are the frames `frames_indices` (one
    per frame of the file, in order) of a `total_num_frames`-frame video at `fps` frames per
    second. The model's processor takes its timing from these (Reason2's `<t seconds>`, Reason1's
    frame rate) instead of from the file's own rate; vLLM's `media_io_kwargs.video` names.
    Our upstream front sends it with every forwarded video (docs/media.md)."""

    model_config = ConfigDict(extra="forbid")

    fps: float = Field(gt=0)
    frames_indices: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    total_num_frames: int = Field(ge=1)


class MediaURL(_Lenient):
    url: str
    sampled_from: SampledFrom | None = None  # videos only: chat/messages.py

    def overrides(self) -> dict[str, Any]:
        """Media options given next to the url, e.g. {"url": ..., "fps": 2}."""
        return {k: v for k, v in (self.model_extra or {}).items() if k in MEDIA_OPTION_NAMES}


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ImageURLPart(_Lenient):
    type: Literal["image_url"]
    image_url: MediaURL

    @field_validator("image_url", mode="before")
    @classmethod
    def _bare_string(cls, value: Any) -> Any:
        # Several clients send the URL itself instead of {"url": ...}.
        return {"url": value} if isinstance(value, str) else value


class VideoURLPart(_Lenient):
    type: Literal["video_url"]
    video_url: MediaURL

    @field_validator("video_url", mode="before")
    @classmethod
    def _bare_string(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value


ContentPart = Annotated[TextPart | ImageURLPart | VideoURLPart, Field(discriminator="type")]


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)  # vLLM's extension; 0 = off
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(default=None, ge=MIN_REPETITION_PENALTY, le=10.0)
    # token id (a string in JSON) -> bias added to its logit; ids are checked against the model's vocabulary
    logit_bias: dict[Annotated[int, Field(ge=0)], Annotated[float, Field(ge=-100.0, le=100.0)]] | None = None
    seed: Seed | None = None
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1)
    ignore_eos: bool = False  # vLLM's extra: run to max_tokens (benchmarks)
    # Cosmos extensions
    reasoning: bool | None = None  # add the model family's reasoning instruction
    task: str | None = None  # a task recipe by name (GET /v1/tasks)
    recipe: dict[str, Any] | None = None  # a task recipe itself: a recipe file's keys (annotate --recipe)
    raw_output: bool = False  # return the model's text untouched, tags and all
    media_options: MediaOverrides | None = None
    mm_processor_kwargs: dict[str, Any] | None = None  # vLLM's name; the media keys are honoured
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Structured output (OpenAI's, vLLM's and its legacy names): checked and normalised by
    # chat/response_format.py, which names the field in a 400.
    response_format: Any = None
    structured_outputs: Any = None
    guided_json: Any = None
    guided_regex: Any = None
    guided_choice: Any = None
    guided_grammar: Any = None

    @field_validator("stop")
    @classmethod
    def _stop_strings(cls, value: str | list[str] | None) -> str | list[str] | None:
        strings = [value] if isinstance(value, str) else (value or [])
        if any(not s for s in strings):
            raise ValueError("stop strings must not be empty")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def processor_media_values(self) -> dict[str, Any]:
        """The media options among mm_processor_kwargs (vLLM's way to send them), unchecked."""
        return {k: v for k, v in (self.mm_processor_kwargs or {}).items() if k in MEDIA_OPTION_NAMES}

    def ignored_fields(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())


# ---- responses --------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _WithReasoning(BaseModel):
    """`reasoning_content` (vLLM's older name) and `reasoning` (its newer one) are always
    sent, null when there is none, even where nulls are left out: clients read
    `message.reasoning_content` without checking that it exists."""

    reasoning_content: str | None = None
    reasoning: str | None = None

    @model_serializer(mode="wrap")
    def _always_reasoning(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in ("reasoning_content", "reasoning"):  # after role and content
            data[name] = data.pop(name, getattr(self, name))
        return data


class AssistantMessage(_WithReasoning):
    role: Literal["assistant"] = "assistant"
    content: str


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(_WithReasoning):
    role: Literal["assistant"] | None = None
    # Always a string, never null: the guide's script prints delta.content as it comes.
    content: str = ""


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "cosmos-reason"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---- /v1/score (extension) ---------------------------------------------------


class ScoreRequest(_Lenient):
    """Score media against a yes/no question: P(yes)/P(no) from one forward pass
    (the Cosmos-Reason1-Reward method) and/or the video-critic recipe over n samples."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    method: Literal["yes_no", "critic", "both"] = "yes_no"
    n: int = Field(default=4, ge=1)  # critic samples
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: Seed | None = None
    media_options: MediaOverrides | None = None


class YesNoScore(BaseModel):
    p_yes: float
    p_no: float
    logprob_yes: float
    logprob_no: float


class CriticSample(BaseModel):
    index: int
    answer: str
    reasoning: str | None = None
    anomaly: bool | None = None  # None: the answer could not be read as yes/no
    parse_error: str | None = None


class CriticScore(BaseModel):
    score: float  # fraction of samples that found no anomaly
    samples: list[CriticSample]


class ScoreResponse(BaseModel):
    id: str
    object: Literal["score"] = "score"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    yes_no: YesNoScore | None = None
    critic: CriticScore | None = None
    usage: Usage
