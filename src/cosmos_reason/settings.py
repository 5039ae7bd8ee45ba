"""Server settings: one frozen dataclass, validated on construction.

The CLI takes its defaults from here, so there is one place that says what the
server does when nobody asked for anything in particular.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from .families.base import ModelFamily, SamplingDefaults
from .families.registry import default_family
from .media.settings import MediaSettings
from .recipes.files import RecipeSpec

API_KEY_ENV = "COSMOS_REASON_API_KEY"
DEFAULT_MODEL = default_family().default_model
LOOPBACK = "127.0.0.1"
DEFAULT_BODY_BUDGET = 256 * 1024 * 1024

_DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass(frozen=True)
class SamplingFlags:
    """The server's --default-* sampling flags. None: not given, so the model family's card
    value applies (families/<family>/constants.py)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None

    def over(self, card: SamplingDefaults) -> SamplingDefaults:
        """The defaults a request gets: these flags where given, else the card's."""
        given = {name: value for name, value in vars(self).items() if value is not None}
        return replace(card, **given)


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    served_model_names: tuple[str, ...] = ()
    engine: str = "hf"
    host: str | None = None  # None: every interface with an API key, loopback (127.0.0.1) without one
    port: int = 8000
    api_keys: tuple[str, ...] = ()
    dtype: str = "auto"
    device: str = "auto"
    sampling: SamplingFlags = field(default_factory=SamplingFlags)
    family: str | None = None  # --family: None = from the checkpoint's config (hf), the default family (upstream)
    media: MediaSettings = field(default_factory=MediaSettings)
    max_n: int = 16
    reasoning: bool = False  # add the reasoning instruction when a request does not say
    max_num_seqs: int = 32  # sequences decoded together by the hf engine
    max_queued_requests: int = 256  # requests waiting for a slot before new ones get 429
    max_prefill_tokens: int = 8192  # prompt tokens prefilled between two decode steps (longer prompts: chunks)
    shutdown_timeout: float = 30.0  # seconds running requests get to finish after SIGTERM
    public_metrics: bool = False  # serve /metrics without an API key
    upstreams: tuple[str, ...] = ()  # --engine upstream: server specs, see engine/upstream/pool.py
    workers: int = 1  # front processes sharing the port (--engine upstream only), see server/workers.py
    log_level: str = "info"
    # Slow and large request bodies, see server/http.py and server/body.py.
    header_read_timeout: float = 10.0  # seconds for a whole request head
    body_read_timeout: float = 30.0  # seconds the body may pause between two reads
    max_buffered_body_bytes: int | None = None  # request bodies held at once, server-wide (None: see below)
    recipes: tuple[RecipeSpec, ...] = ()  # --recipes DIR: task recipes beside the family's (recipes/files.py)

    def sampling_defaults(self, family: ModelFamily, reasoning: bool) -> SamplingDefaults:
        """What a request with (or without) reasoning gets for the sampling fields it leaves out:
        the --default-* flags over the family's card for that mode."""
        return self.sampling.over(family.card_sampling(reasoning))

    def __post_init__(self) -> None:
        if self.host is None:
            object.__setattr__(self, "host", "0.0.0.0" if self.api_keys else LOOPBACK)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {self.dtype!r}")
        if any(not key for key in self.api_keys):
            raise ValueError("an API key must not be empty")
        if not 1 <= self.max_n <= self.max_num_seqs:
            raise ValueError(f"max_n must be between 1 and max_num_seqs ({self.max_num_seqs}), got {self.max_n}")
        if self.max_queued_requests < 1:
            raise ValueError("max_queued_requests must be at least 1")
        if self.max_prefill_tokens < 1:
            raise ValueError("max_prefill_tokens must be at least 1")
        if self.shutdown_timeout < 0:
            raise ValueError("shutdown_timeout must not be negative")
        if self.engine == "upstream" and not self.upstreams:
            raise ValueError("--engine upstream needs at least one --upstream URL")
        if self.upstreams and self.engine != "upstream":
            raise ValueError("--upstream is only used with --engine upstream")
        if self.max_buffered_body_bytes is None:  # room for a few large bodies, and always for the largest one
            object.__setattr__(self, "max_buffered_body_bytes", max(DEFAULT_BODY_BUDGET, self.media.max_request_bytes))
        for name in ("header_read_timeout", "body_read_timeout", "max_buffered_body_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_buffered_body_bytes < self.media.max_request_bytes:
            raise ValueError(
                f"--max-buffered-body-bytes ({self.max_buffered_body_bytes}) must be at least "
                f"--max-request-bytes ({self.media.max_request_bytes}), or no body that large is ever read"
            )
        if self.family is not None and self.engine != "upstream":
            raise ValueError(
                "--family is only used with --engine upstream (the hf engine reads the family from "
                "the checkpoint's config)"
            )
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.workers > 1 and self.engine != "upstream":
            raise ValueError(
                "--workers above 1 needs --engine upstream: the hf engine holds the model in one "
                "process (for more throughput, run replicas behind a front with --engine upstream)"
            )

    @property
    def model_name(self) -> str:
        """The id clients see in /v1/models and must send as `model`."""
        return self.served_model_names[0] if self.served_model_names else self.model


def api_keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Keys from COSMOS_REASON_API_KEY, comma-separated, so a key need not be on the command line."""
    raw = (os.environ if environ is None else environ).get(API_KEY_ENV, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())
