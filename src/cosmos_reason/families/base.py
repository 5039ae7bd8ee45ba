"""The model-family seam: everything that differs between Cosmos generations, as plain values.

A `ModelFamily` says which checkpoints it serves (config `model_type`), the vision-token
geometry, the video sampling defaults, the reasoning format and where its instruction goes,
the model card's sampling defaults, its task recipes, and how decoded frames become
inputs of its processor (hf engine) or of a vLLM-style upstream. The rest of the server
asks the family instead of knowing a model. Nothing here imports torch or transformers.
See docs/architecture.md#model-families.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..media.options import MediaOptions
from ..media.vision_math import VisionGeometry
from ..reasoning.format import ReasoningFormat

if TYPE_CHECKING:
    from ..recipes.recipe import TaskRecipe


@dataclass(frozen=True)
class SamplingDefaults:
    """Sampling when neither the request, its recipe nor the server's --default-* flags say."""

    temperature: float
    top_p: float
    top_k: int  # 0 = off
    repetition_penalty: float
    max_tokens: int
    presence_penalty: float = 0.0  # OpenAI semantics, as the request field


@dataclass(frozen=True)
class ModelFamily:
    """One Cosmos generation; one module per family under families/, registered in families/__init__.py."""

    name: str
    title: str
    model_types: tuple[str, ...]  # the checkpoint config's model_type values it serves
    default_model: str  # the hub id used when --model is not given
    model_class: str  # the transformers class that loads its checkpoints
    geometry: VisionGeometry
    video: MediaOptions  # video sampling when neither the request nor the server's flags say
    sampling: SamplingDefaults  # the model card's (with reasoning, where the card has one per mode)
    reasoning: ReasoningFormat
    recipes: Mapping[str, TaskRecipe]
    # Decoded videos -> keyword arguments for the hf processor's __call__ (hf engine).
    processor_video_kwargs: Callable[[list[Any]], dict[str, Any]]
    # Decoded videos -> extra request fields a vLLM-style upstream needs to see the same frames.
    upstream_video_fields: Callable[[list[Any]], dict[str, Any]]
    # The card's sampling without reasoning, where it differs by mode (None: `sampling` for both).
    sampling_plain: SamplingDefaults | None = None
    # Rendered chat-template text -> the text the hf processor expands media in, for a prompt
    # with videos (None: unchanged).
    processor_prompt: Callable[[str], str] | None = None
    # Its processor writes each temporal patch's time into the prompt (`<t seconds>`), so the
    # Cosmos-Reason1 `timestamp` overlay (media/overlay.py) is refused rather than doubled.
    text_timestamps: bool = False

    def card_sampling(self, reasoning: bool) -> SamplingDefaults:
        """The card's sampling for a request with or without reasoning."""
        return self.sampling if reasoning or self.sampling_plain is None else self.sampling_plain
