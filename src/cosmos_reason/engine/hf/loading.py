"""Finding and loading a checkpoint, real or demo, by one code path; its config's model_type picks the model family."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...families.base import ModelFamily
from ...families.registry import UnknownFamilyError, family_for_model_type

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo"


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
    family: ModelFamily


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


def load_family(source: str) -> ModelFamily:
    """The model family serving the checkpoint, from its config's model_type."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_unavailable_message(source, exc)) from None
    try:
        return family_for_model_type(config.model_type, source)
    except UnknownFamilyError as exc:
        raise ModelLoadError(str(exc)) from None


def load_model(model: str, *, dtype: str = "auto", device: str = "auto") -> LoadedModel:
    import transformers

    from ...demo.checkpoint import read_demo_marker

    source = resolve_source(model)
    family = load_family(source)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    try:
        processor = transformers.AutoProcessor.from_pretrained(source)
        net = getattr(transformers, family.model_class).from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_unavailable_message(source, exc)) from None
    net = net.to(device).eval()
    marker = read_demo_marker(Path(source)) if Path(source).is_dir() else None
    return LoadedModel(net, processor, source, device, net.dtype, marker, family)


def _unavailable_message(source: str, exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"cannot load model {source!r}: it is not a local checkpoint folder and could not be fetched from "
        f"the Hugging Face hub (offline or not cached) [{first_line}]. Download it first "
        f"(`hf download {source} --local-dir DIR`) and pass the folder with --model, "
        f"or try the server with the built-in demo model: --model demo (random weights)"
    )
