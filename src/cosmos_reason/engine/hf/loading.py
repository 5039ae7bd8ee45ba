"""Finding and loading a Qwen2.5-VL checkpoint, real or demo, by one code path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo"
SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)


class ModelLoadError(RuntimeError):
    """The checkpoint cannot be had or is not one we can serve; the message is one line for the user."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    processor: Any
    source: str
    device: str
    dtype: Any
    demo_marker: dict | None


def resolve_source(model: str) -> str:
    """`demo` or `demo:SIZE` builds (once) and returns the demo checkpoint folder."""
    name, _, size = model.partition(":")
    if name != DEMO_PREFIX or Path(model).exists():
        return model
    from ...demo.checkpoint import ensure_demo_model

    return str(ensure_demo_model(size or "tiny"))


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(requested: str, device: str) -> Any:
    """bf16 on a GPU; elsewhere the dtype the checkpoint was saved in."""
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "auto"


def load_config(source: str) -> Any:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_unavailable_message(source, exc)) from None
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(
            f"model {source!r} is a {config.model_type!r} checkpoint; cosmos-reason serves Qwen2.5-VL "
            f"checkpoints such as nvidia/Cosmos-Reason1-7B"
        )
    return config


def load_model(model: str, *, dtype: str = "auto", device: str = "auto") -> LoadedModel:
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from ...demo.checkpoint import read_demo_marker

    source = resolve_source(model)
    load_config(source)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    try:
        processor = AutoProcessor.from_pretrained(source)
        net = Qwen2_5_VLForConditionalGeneration.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_unavailable_message(source, exc)) from None
    net = net.to(device).eval()
    marker = read_demo_marker(Path(source)) if Path(source).is_dir() else None
    return LoadedModel(net, processor, source, device, net.dtype, marker)


def _unavailable_message(source: str, exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"cannot load model {source!r}: it is not a local checkpoint folder and could not be fetched from "
        f"the Hugging Face hub (offline or not cached) [{first_line}]. Download it first "
        f"(`hf download {source} --local-dir DIR`) and pass the folder with --model, "
        f"or try the server with the built-in demo model: --model demo (random weights)"
    )
