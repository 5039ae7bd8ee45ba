"""The Cosmos-Reason2 demo checkpoint (`demo:reason2`): a tiny random Qwen3-VL with the real
structure, token ids and chat template, loaded by the same path as a real checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from cosmos_reason.demo import checkpoint as ck
from cosmos_reason.demo import reason2
from cosmos_reason.engine.hf.loading import load_model
from cosmos_reason.families.reason2 import REASON2


@pytest.fixture(scope="module")
def loaded(reason2_model_dir: Path):
    return load_model(str(reason2_model_dir), device="cpu")


def test_config_has_qwen3_vl_structure(reason2_model_dir: Path) -> None:
    config = json.loads((reason2_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl" and config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    vision, text = config["vision_config"], config["text_config"]
    assert (vision["patch_size"], vision["spatial_merge_size"], vision["temporal_patch_size"]) == (16, 2, 2)
    assert vision["deepstack_visual_indexes"] == [0, 1] and vision["out_hidden_size"] == text["hidden_size"]
    rope = text["rope_parameters"]
    assert rope["mrope_interleaved"] is True and sum(rope["mrope_section"]) * 2 == text["head_dim"]
    assert (config["image_token_id"], config["video_token_id"]) == (151655, 151656)
    assert (config["vision_start_token_id"], config["vision_end_token_id"]) == (151652, 151653)
    assert ck.read_demo_marker(reason2_model_dir)["random_weights"] is True


def test_loads_as_reason2_with_the_real_classes(loaded, reason2_model_dir: Path) -> None:
    from transformers import Qwen3VLForConditionalGeneration

    assert loaded.family is REASON2
    assert type(loaded.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(loaded.processor).__name__ == "Qwen3VLProcessor"
    _, info = Qwen3VLForConditionalGeneration.from_pretrained(reason2_model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_token_ids_are_qwen3s(loaded) -> None:
    tokenizer = loaded.processor.tokenizer
    names = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
        "<tool_response>",
        "</tool_response>",
        "<think>",
        "</think>",
    ]
    assert tokenizer.convert_tokens_to_ids(names) == [
        151643,
        151644,
        151645,
        151655,
        151656,
        151665,
        151666,
        151667,
        151668,
    ]
    assert tokenizer.encode("<think>\nhm\n</think>\n\nB")[0] == 151667
    assert tokenizer.eos_token == "<|im_end|>"


def test_chat_template_is_qwen3_vls_byte_for_byte() -> None:
    data = reason2.CHAT_TEMPLATE_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == reason2.CHAT_TEMPLATE_SHA256


def test_chat_template_renders_media_first_without_a_default_system(loaded) -> None:
    processor = loaded.processor
    text = processor.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": "Q"}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, add_vision_id=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Picture 1: <|vision_start|><|image_pad|><|vision_end|>"
        "Video 1: <|vision_start|><|video_pad|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\n"
    )


def test_an_image_takes_one_token_per_32_pixels_and_reaches_the_logits(loaded) -> None:
    processor = loaded.processor
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    image = Image.new("RGB", (320, 256), (40, 120, 200))
    inputs = processor(text=[prompt], images=[image], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 20]]
    assert int((inputs["input_ids"] == 151655).sum()) == (320 // 32) * (256 // 32)
    with torch.no_grad():
        logits = loaded.model(**inputs).logits
    assert logits.shape[-1] == 151936 and torch.isfinite(logits).all()


def test_the_cli_builds_it_with_family(tmp_path: Path) -> None:
    from cosmos_reason.cli import main

    assert main(["make-demo-model", str(tmp_path / "r2"), "--family", "reason2"]) == 0
    assert json.loads((tmp_path / "r2" / "config.json").read_text())["model_type"] == "qwen3_vl"


def test_the_reason1_demo_is_unchanged(demo_model_dir: Path) -> None:
    assert json.loads((demo_model_dir / "config.json").read_text())["model_type"] == "qwen2_5_vl"
