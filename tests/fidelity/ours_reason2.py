"""Our side of the Reason2 fidelity check: the fixed cases through the server's own path.

Each case becomes an OpenAI-style chat request (media as file:// URLs with their options beside
the URL, as a client sends them), then goes the way a request goes: chat/messages.py's
build_conversation with a MediaLoader bound to Reason2's encoder and defaults, then the hf
engine's build_inputs with the checkpoint's processor. summary() writes the result in the terms
of tests/fidelity/reference_reason2.py's goldens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch

from cosmos_reason.api.protocol import ChatMessage
from cosmos_reason.chat.messages import build_conversation
from cosmos_reason.engine.base import Conversation
from cosmos_reason.engine.hf.inputs import build_inputs
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases_reason2.json"
MEDIA = HERE / "media"
GOLDEN = HERE / "golden" / "reason2"
TIMESTAMP = re.compile(r"<(\d+(?:\.\d+)?) seconds>")


def load_spec() -> dict[str, Any]:
    return json.loads(CASES.read_text(encoding="utf-8"))


def request_messages(spec: dict[str, Any], case: dict[str, Any], media: Path = MEDIA) -> list[dict[str, Any]]:
    """The case as a client of our server writes it (the family's defaults are the server's)."""
    parts: list[dict[str, Any]] = []
    for item in case["content"]:
        options = {k: v for k, v in item.items() if k not in ("type", "image", "video", "text")}
        if item["type"] == "text":
            parts.append({"type": "text", "text": item["text"]})
        elif item["type"] == "image":
            parts.append({"type": "image_url", "image_url": {"url": (media / item["image"]).as_uri(), **options}})
        else:
            parts.append({"type": "video_url", "video_url": {"url": (media / item["video"]).as_uri(), **options}})
    return [{"role": "system", "content": spec["system"]}, {"role": "user", "content": parts}]


def our_inputs(
    processor: Any, spec: dict[str, Any], case: dict[str, Any], media: Path = MEDIA
) -> tuple[Any, Conversation]:
    """(the processor's BatchFeature, the loaded Conversation) for one case."""

    async def run() -> Conversation:
        loader = MediaLoader(
            MediaSettings(allowed_local_media_paths=(str(media),)),
            geometry=REASON2.geometry,
            video_defaults=REASON2.video,
        )
        try:
            messages = [ChatMessage.model_validate(m) for m in request_messages(spec, case, media)]
            return await build_conversation(messages, loader)
        finally:
            await loader.close()

    conversation = asyncio.run(run())
    return build_inputs(processor, conversation, REASON2), conversation


def digest(tensor: torch.Tensor) -> dict[str, Any]:
    array = tensor.detach().to(torch.float32).contiguous().numpy()
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def runs(ids: list[int]) -> list[list[int]]:
    """Token ids as [id, repeat] runs, the goldens' form (reference_reason2.py's runs)."""
    out: list[list[int]] = []
    for token in ids:
        if out and out[-1][0] == token:
            out[-1][1] += 1
        else:
            out.append([token, 1])
    return out


def summary(processor: Any, inputs: Any) -> dict[str, Any]:
    """Our inputs in the reference's terms (reference_reason2.py writes the same keys)."""
    ids = inputs["input_ids"][0].tolist()
    entry: dict[str, Any] = {
        "input_ids": runs(ids),
        "timestamps": [float(t) for t in TIMESTAMP.findall(processor.tokenizer.decode(ids))],
    }
    for key in ("image_grid_thw", "video_grid_thw"):
        if key in inputs:
            entry[key] = inputs[key].tolist()
    for key in ("pixel_values", "pixel_values_videos"):
        if key in inputs:
            entry[key] = digest(inputs[key])
    return entry
