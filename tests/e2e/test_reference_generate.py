"""The server's greedy answer is token-identical to transformers' generate called directly."""

from __future__ import annotations

import openai
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from tests.media_factory import data_uri, png_bytes

from .conftest import API_KEY, MODEL_NAME

pytestmark = pytest.mark.e2e

QUESTION = "How many sheep are there in the picture?"
NEW_TOKENS = 32


def reference_answer(checkpoint, image: Image.Image) -> tuple[str, int, int]:
    processor = AutoProcessor.from_pretrained(checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS, repetition_penalty=1.05)
    new = out[0, inputs["input_ids"].shape[1] :]
    return processor.tokenizer.decode(new, skip_special_tokens=True), inputs["input_ids"].shape[1], len(new)


def test_greedy_text_and_image_matches_direct_generate(server, demo_checkpoint):
    import io

    png = png_bytes(96, 80, seed=3)
    expected, prompt_tokens, new_tokens = reference_answer(demo_checkpoint, Image.open(io.BytesIO(png)).convert("RGB"))
    client = openai.OpenAI(api_key=API_KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=120)
    completion = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_uri(png, "image/png")}},
                    {"type": "text", "text": QUESTION},
                ],
            }
        ],
        temperature=0,
        max_tokens=NEW_TOKENS,
    )
    assert completion.choices[0].message.content == expected
    assert completion.usage.prompt_tokens == prompt_tokens
    assert completion.usage.completion_tokens == new_tokens
