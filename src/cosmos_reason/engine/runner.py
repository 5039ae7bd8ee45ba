"""The model calls of the batching engine: one prefill per request, one decode
step for the whole running batch. Positions are computed here (Qwen2.5-VL's 3-D
mrope for media), so nothing depends on state the model keeps between calls."""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache

from .kv import BatchedKV
from .sequence import Row

_VISION_KEYS = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw", "second_per_grid_ts")


class ModelRunner:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = model.device
        self.kv = BatchedKV(model.config)

    @torch.inference_mode()
    def prefill(self, inputs: Any) -> tuple[torch.Tensor, DynamicCache, int]:
        """Run the prompt (vision encoder included); returns last-position logits,
        the prompt's cache and its mrope position delta."""
        inputs = inputs.to(self.device)
        positions, delta = self._prompt_positions(inputs)
        cache = DynamicCache(config=self.model.config)
        kwargs = {k: inputs[k] for k in _VISION_KEYS if k in inputs}
        if "pixel_values" in kwargs:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(self.model.dtype)
        if "pixel_values_videos" in kwargs:
            kwargs["pixel_values_videos"] = kwargs["pixel_values_videos"].to(self.model.dtype)
        out = self.model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            position_ids=positions,
            mm_token_type_ids=inputs.get("mm_token_type_ids"),
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        return out.logits[0, -1].float(), cache, delta

    def join(self, cache: DynamicCache, rows: int) -> None:
        self.kv.join(cache, rows)

    def keep(self, indices: list[int]) -> None:
        self.kv.keep(indices)

    @torch.inference_mode()
    def decode(self, rows: list[Row]) -> torch.Tensor:
        """Feed each row's chosen token; returns next-token logits [rows, vocab]."""
        tokens = torch.tensor([[row.next_token] for row in rows], device=self.device)
        positions = torch.tensor([row.length + row.rope_delta for row in rows], device=self.device)
        out = self.model(
            input_ids=tokens,
            attention_mask=self.kv.attention_mask(self.device),
            position_ids=positions.view(1, -1, 1).expand(3, -1, -1),
            cache=self.kv.cache,
            use_cache=True,
        )
        return out.logits[:, -1].float()

    def _prompt_positions(self, inputs: Any) -> tuple[torch.Tensor, int]:
        ids = inputs["input_ids"]
        if inputs.get("image_grid_thw") is None and inputs.get("video_grid_thw") is None:
            positions = torch.arange(ids.shape[1], device=ids.device).view(1, 1, -1).expand(3, 1, -1)
            return positions, 0
        positions, deltas = self.model.model.get_rope_index(
            ids,
            mm_token_type_ids=inputs["mm_token_type_ids"],
            image_grid_thw=inputs.get("image_grid_thw"),
            video_grid_thw=inputs.get("video_grid_thw"),
            second_per_grid_ts=inputs.get("second_per_grid_ts"),
            attention_mask=inputs["attention_mask"],
        )
        return positions, int(deltas.view(-1)[0])
