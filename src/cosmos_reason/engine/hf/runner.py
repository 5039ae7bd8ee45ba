"""The model calls of the batching engine: prefills (a prompt whole, several prompts
together, left-padded, or a prompt longer than the prefill budget in chunks) and one
decode step for the whole running batch. Positions are computed here (the model's own 3-D
mrope index for media), so nothing depends on state the model keeps between calls. A chunked
prompt of a deepstack model (Qwen3-VL) carries its visual features for the first layers too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from transformers import DynamicCache

from .kv import BatchedKV
from .sequence import Row

_VISION_KEYS = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw", "second_per_grid_ts")


class Prefilled(NamedTuple):
    """One prompt's prefill: its last position's logits, its cache and its mrope position delta."""

    logits: torch.Tensor  # [vocab]
    cache: DynamicCache
    delta: int


class BatchPrefilled(NamedTuple):
    """Several prompts prefilled in one left-padded forward pass."""

    logits: torch.Tensor  # [prompts, vocab], each prompt's last position
    cache: DynamicCache
    deltas: list[int]  # each prompt's mrope position delta
    pads: list[int]  # each prompt's left padding


@dataclass
class PartialPrefill:
    """A prompt being prefilled chunk by chunk: its embeddings (vision features already
    in place), mrope positions and the cache filled so far."""

    embeds: torch.Tensor  # [1, prompt, hidden]
    positions: torch.Tensor  # [3, 1, prompt]
    delta: int
    cache: DynamicCache
    done: int = 0
    # Deepstack (Qwen3-VL): which prompt positions are visual, and per decoder layer the
    # features added there, one row per visual position in prompt order. None: no deepstack.
    visual_mask: torch.Tensor | None = None  # [1, prompt] bool
    deepstack: list[torch.Tensor] | None = None

    @property
    def total(self) -> int:
        return self.embeds.shape[1]

    @property
    def remaining(self) -> int:
        return self.total - self.done


class ModelRunner:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = model.device
        self.kv = BatchedKV(model.config)

    @torch.inference_mode()
    def prefill(self, inputs: Any) -> Prefilled:
        """Run the prompt (vision encoder included)."""
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
        return Prefilled(out.logits[0, -1].float(), cache, delta)

    @torch.inference_mode()
    def start_prefill(self, inputs: Any) -> PartialPrefill:
        """Prepare a chunked prefill: the vision encoder runs here, once, and its features
        replace the placeholder tokens' embeddings, as the model's own forward does. A model
        with deepstack (Qwen3-VL) also keeps the features it adds to its first decoder layers."""
        inputs = inputs.to(self.device)
        positions, delta = self._prompt_positions(inputs)
        ids = inputs["input_ids"]
        inner = self.model.model
        embeds = inner.get_input_embeddings()(ids)
        deep: dict[str, Any] = {}
        if inputs.get("pixel_values") is not None:
            out = inner.get_image_features(
                inputs["pixel_values"].to(self.model.dtype), inputs["image_grid_thw"], return_dict=True
            )
            features = torch.cat(out.pooler_output, dim=0).to(embeds.device, embeds.dtype)
            mask, _ = inner.get_placeholder_mask(ids, inputs_embeds=embeds, image_features=features)
            embeds = embeds.masked_scatter(mask, features)
            deep["image"] = (mask[..., 0], getattr(out, "deepstack_features", None))
        if inputs.get("pixel_values_videos") is not None:
            out = inner.get_video_features(
                inputs["pixel_values_videos"].to(self.model.dtype), inputs["video_grid_thw"], return_dict=True
            )
            features = torch.cat(out.pooler_output, dim=0).to(embeds.device, embeds.dtype)
            _, mask = inner.get_placeholder_mask(ids, inputs_embeds=embeds, video_features=features)
            embeds = embeds.masked_scatter(mask, features)
            deep["video"] = (mask[..., 0], getattr(out, "deepstack_features", None))
        state = PartialPrefill(embeds, positions, delta, DynamicCache(config=self.model.config))
        state.visual_mask, state.deepstack = _deepstack_rows(list(deep.values()))
        return state

    @torch.inference_mode()
    def prefill_chunk(self, state: PartialPrefill, size: int) -> torch.Tensor | None:
        """Run the next `size` prompt tokens; the last-position logits once the prompt is done."""
        start, end = state.done, min(state.done + size, state.total)
        if state.deepstack is not None:
            logits = self._deepstack_chunk(state, start, end)
        else:
            logits = self.model(
                inputs_embeds=state.embeds[:, start:end],
                position_ids=state.positions[:, :, start:end],
                cache=state.cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits
        state.done = end
        return logits[0, -1].float() if end == state.total else None

    def _deepstack_chunk(self, state: PartialPrefill, start: int, end: int) -> torch.Tensor:
        """One chunk through the language model with the deepstack features of the visual
        tokens that fall in it (the model's own forward only passes them with pixel inputs)."""
        assert state.visual_mask is not None and state.deepstack is not None  # set together with deepstack
        mask = state.visual_mask[:, start:end]
        first, count = int(state.visual_mask[:, :start].sum()), int(mask.sum())
        rows = [layer[first : first + count] for layer in state.deepstack] if count else None
        out = self.model.model.language_model(
            inputs_embeds=state.embeds[:, start:end],
            position_ids=state.positions[:, :, start:end],
            cache=state.cache,
            use_cache=True,
            visual_pos_masks=mask if count else None,
            deepstack_visual_embeds=rows,
        )
        return self.model.lm_head(out.last_hidden_state[:, -1:])

    @torch.inference_mode()
    def prefill_batch(self, batch: list[Any]) -> BatchPrefilled:
        """Several prompts in one forward pass, left-padded to the longest (media of all of them
        through the vision encoder together)."""
        batch = [inputs.to(self.device) for inputs in batch]
        lengths = [int(inputs["input_ids"].shape[1]) for inputs in batch]
        pads = [max(lengths) - n for n in lengths]
        positions, deltas = zip(*(self._prompt_positions(inputs) for inputs in batch), strict=False)

        def stack(key: str) -> torch.Tensor:
            return torch.cat(
                [torch.nn.functional.pad(inputs[key], (pad, 0)) for inputs, pad in zip(batch, pads, strict=False)]
            )

        kwargs = {}
        for key in _VISION_KEYS:
            parts = [inputs[key] for inputs in batch if inputs.get(key) is not None]
            if parts:
                kwargs[key] = torch.cat(parts)
        for key in ("pixel_values", "pixel_values_videos"):
            if key in kwargs:
                kwargs[key] = kwargs[key].to(self.model.dtype)
        has_types = all(inputs.get("mm_token_type_ids") is not None for inputs in batch)
        cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=stack("input_ids"),
            attention_mask=stack("attention_mask"),
            position_ids=torch.cat(
                [torch.nn.functional.pad(p, (pad, 0)) for p, pad in zip(positions, pads, strict=False)], dim=1
            ),
            mm_token_type_ids=stack("mm_token_type_ids") if has_types else None,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        return BatchPrefilled(out.logits[:, -1].float(), cache, list(deltas), pads)

    def join(self, cache: DynamicCache, repeats: list[int], pads: list[int]) -> None:
        self.kv.join(cache, repeats, pads)

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


def _deepstack_rows(parts: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor | None, list[torch.Tensor] | None]:
    """Images' and videos' deepstack features merged in prompt order, as Qwen3-VL's forward does:
    (visual mask, one [visual tokens, hidden] tensor per layer), or (None, None) without deepstack."""
    parts = [(mask, layers) for mask, layers in parts if layers]
    if not parts:
        return None, None
    visual = parts[0][0]
    for mask, _ in parts[1:]:
        visual = visual | mask
    rows = []
    for layer in range(len(parts[0][1])):
        features = [torch.cat(layers[layer], dim=0) for _, layers in parts]
        joint = features[0].new_zeros(int(visual.sum()), features[0].shape[-1])
        for (mask, _), feature in zip(parts, features, strict=False):
            joint[mask[visual]] = feature.to(joint.dtype)
        rows.append(joint)
    return visual, rows
