"""Build a tiny random-weight Qwen3-VL checkpoint shaped like Cosmos-Reason2 (`demo:reason2`).

The structure is the real one (patch 16, merge 2, temporal patch 2, deepstack, interleaved
mrope; ../shared/REASON2.md sections 1.2 and 1.6), at toy widths, with the real token ids
(the Qwen2 vocabulary plus Qwen3's `<tool_response>` 151665, `</tool_response>` 151666,
`<think>` 151667 and `</think>` 151668) and Qwen3-VL's chat template. transformers builds,
saves and (when served) loads it, so it takes the same from_pretrained path as a real
checkpoint. checkpoint.py makes it atomically and marks it as random.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .tokenizer import build_backend_tokenizer

SIZE = "reason2"
#: Qwen3-VL-{2B,8B}-Instruct's chat template, byte for byte: the `tokenizer.chat_template` of
#: Qwen/Qwen3-VL-8B-Instruct-GGUF (5292 bytes, SHA-256 3636d0f0bd6bef02...a489e4), as quoted in
#: github.com/zhongkaifu/TensorSharp (QwenImageIntentScorerTests.ShippedTemplate). It opens no
#: think block and adds no system prompt of its own.
CHAT_TEMPLATE_FILE = Path(__file__).with_name("qwen3_vl_chat_template.jinja")
CHAT_TEMPLATE_SHA256 = "3636d0f0bd6bef02654cdffdc447b79cb2cef8ab02cc75267345946291a489e4"
#: Qwen3's added tokens after Qwen2.5-VL's (which end at <|file_sep|> 151664), all special=False.
QWEN3_EXTRA_TOKENS = ("<tool_response>", "</tool_response>", "<think>", "</think>")
VOCAB_SIZE = 151936
TEXT_HIDDEN = 64
MEAN_STD = [0.5, 0.5, 0.5]


def config_dict() -> dict[str, Any]:
    """Qwen3VLConfig arguments: toy widths, real ids and layout (sum(mrope_section) = head_dim / 2)."""
    return {
        "text_config": {
            "vocab_size": VOCAB_SIZE,
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "max_position_embeddings": 262144,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
            "bos_token_id": 151643,
            "eos_token_id": 151645,
        },
        "vision_config": {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [0, 1],
        },
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": True,
    }


def generation_config_dict() -> dict[str, Any]:
    """generation_config.json as Qwen3-VL-Instruct ships it (its non-thinking sampling)."""
    return {
        "bos_token_id": 151643,
        "pad_token_id": 151643,
        "do_sample": True,
        "eos_token_id": [151645, 151643],
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.8,
        "repetition_penalty": 1.0,
    }


def chat_template() -> str:
    return CHAT_TEMPLATE_FILE.read_text(encoding="utf-8")


def build_tokenizer() -> Any:
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    backend = build_backend_tokenizer()
    for content in QWEN3_EXTRA_TOKENS:
        backend.add_tokens(
            [AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=False, special=False)]
        )
    return Qwen2Tokenizer(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=262144,
        chat_template=chat_template(),
    )


def build_processor() -> Any:
    """Qwen3VLProcessor with the real processors' settings (patch 16, merge 2, mean/std 0.5)."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    image = Qwen2VLImageProcessor(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=MEAN_STD,
        image_std=MEAN_STD,
        size={"shortest_edge": 65536, "longest_edge": 16777216},
    )
    video = Qwen3VLVideoProcessor(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=MEAN_STD,
        image_std=MEAN_STD,
        size={"shortest_edge": 4096, "longest_edge": 25165824},
        fps=2,
        min_frames=4,
        max_frames=768,
    )
    return Qwen3VLProcessor(
        image_processor=image, tokenizer=build_tokenizer(), video_processor=video, chat_template=chat_template()
    )


def build_model(seed: int) -> Any:
    from transformers import GenerationConfig, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**config_dict())).eval()
    model.generation_config = GenerationConfig(**generation_config_dict())
    return model


def model_card(seed: int) -> str:
    return (
        "# Cosmos-Reason2 demo checkpoint (tiny, random weights)\n\n"
        f"**Random weights: answers are meaningless.** Built locally by `cosmos_reason.demo` (seed {seed}).\n\n"
        "A Qwen3-VL (the architecture of nvidia/Cosmos-Reason2-2B/8B) at toy widths: text 2 layers, hidden 64, "
        "head_dim 16, interleaved mrope [2, 3, 3]; vision depth 2, patch 16, merge 2, temporal patch 2, deepstack "
        "[0, 1]. Real token ids (Qwen2 vocabulary plus Qwen3's <think> 151667 and </think> 151668) and the "
        "Qwen3-VL chat template.\n"
    )


def write_checkpoint(out_dir: Path, seed: int, marker: dict[str, Any], marker_file: str) -> None:
    """Model, processor, README and (last) the marker into `out_dir`."""
    out_dir = Path(out_dir)
    build_model(seed).save_pretrained(out_dir)
    build_processor().save_pretrained(out_dir)
    (out_dir / "README.md").write_text(model_card(seed), encoding="utf-8")
    (out_dir / marker_file).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
