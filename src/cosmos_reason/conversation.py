"""The conversation an engine receives: roles, text and already-decoded media.

Media are decoded before they reach an engine, so every engine (in-process or an
upstream server) sees exactly the same pixels and frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

from PIL import Image


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
