"""Conversation -> model-ready tensors with the checkpoint's own processor.

The chat template and the processor are the checkpoint's, so a real
Cosmos-Reason1 folder and the demo folder preprocess identically.
"""

from __future__ import annotations

from typing import Any

from ...conversation import Conversation, ImageInput, Text, VideoInput


def template_messages(conversation: Conversation) -> list[dict]:
    """The message shape Qwen2.5-VL's chat template expects; media become placeholders."""
    messages = []
    for turn in conversation.turns:
        content: list[dict] = []
        for part in turn.parts:
            if isinstance(part, Text):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImageInput):
                content.append({"type": "image"})
            elif isinstance(part, VideoInput):
                content.append({"type": "video"})
        messages.append({"role": turn.role, "content": content})
    return messages


def prompt_text(processor: Any, conversation: Conversation) -> str:
    return processor.apply_chat_template(
        template_messages(conversation), tokenize=False, add_generation_prompt=True
    )


def build_inputs(processor: Any, conversation: Conversation) -> Any:
    """A BatchFeature with input_ids, attention_mask, mm_token_type_ids and vision tensors."""
    images = conversation.images()
    videos = conversation.videos()
    kwargs: dict[str, Any] = {}
    if videos:
        from ...media.video import processor_video_kwargs, processor_videos

        kwargs.update(processor_video_kwargs(videos))
        videos = processor_videos(videos, getattr(processor, "video_processor", None))
    return processor(
        text=[prompt_text(processor, conversation)],
        images=images or None,
        videos=videos or None,
        return_tensors="pt",
        **kwargs,
    )
