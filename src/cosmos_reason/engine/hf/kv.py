"""The running batch's shared KV cache, left-padded so rows of different
lengths decode together; rows join after their own prefill and leave when done."""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import CacheLayerMixin


class BatchedKV:
    def __init__(self, config) -> None:
        self.config = config
        self.cache: DynamicCache | None = None
        self.pads: list[int] = []  # left padding of each row

    @property
    def size(self) -> int:
        return len(self.pads)

    @property
    def length(self) -> int:
        return self.cache.get_seq_length() if self.cache is not None else 0

    def join(self, cache: DynamicCache, repeats: list[int], pads: list[int]) -> None:
        """Add a freshly prefilled cache: its row i (left-padded by pads[i]) becomes repeats[i]
        rows (n choices share one prefill; a repeat of 0 drops the row)."""
        if len(repeats) == 1 and repeats[0] > 1 and pads == [0]:
            cache.batch_repeat_interleave(repeats[0])
        elif any(r != 1 for r in repeats):
            device = _layers(cache)[0][1].device
            cache.batch_select_indices(
                torch.repeat_interleave(torch.arange(len(repeats), device=device), torch.tensor(repeats, device=device))
            )
        incoming_pads = [p for p, r in zip(pads, repeats, strict=False) for _ in range(r)]
        incoming = cache.get_seq_length()
        if self.cache is None:
            self.cache, self.pads = cache, incoming_pads
            return
        width = max(self.length, incoming)
        grow = width - self.length
        self._pad_left(self.cache, grow)
        self._pad_left(cache, width - incoming)
        for (mine, keys, values), (_, their_keys, their_values) in zip(
            _layers(self.cache), _layers(cache), strict=False
        ):
            mine.keys = torch.cat([keys, their_keys], dim=0)
            mine.values = torch.cat([values, their_values], dim=0)
        self.pads = [p + grow for p in self.pads] + [p + width - incoming for p in incoming_pads]

    def keep(self, indices: list[int]) -> None:
        """Drop every row not in `indices`, then the padding columns no row needs any more."""
        if not indices or self.cache is None:
            self.cache, self.pads = None, []
            return
        self.cache.batch_select_indices(torch.tensor(indices, device=_layers(self.cache)[0][1].device))
        self.pads = [self.pads[i] for i in indices]
        trim = min(self.pads)
        if trim:
            for layer, keys, values in _layers(self.cache):
                layer.keys = keys[:, :, trim:, :]
                layer.values = values[:, :, trim:, :]
            self.pads = [p - trim for p in self.pads]

    def attention_mask(self, device) -> torch.Tensor:
        """[rows, length + 1]: zeros over each row's padding, ones over its tokens and the new one."""
        columns = torch.arange(self.length + 1, device=device)
        pads = torch.tensor(self.pads, device=device)[:, None]
        return (columns[None, :] >= pads).long()

    @staticmethod
    def _pad_left(cache: DynamicCache, amount: int) -> None:
        if amount <= 0:
            return
        for layer, keys, values in _layers(cache):
            layer.keys = torch.nn.functional.pad(keys, (0, 0, amount, 0))
            layer.values = torch.nn.functional.pad(values, (0, 0, amount, 0))


def _layers(cache: DynamicCache) -> list[tuple[CacheLayerMixin, torch.Tensor, torch.Tensor]]:
    """Each layer of a prefilled cache with its keys and values, [rows, heads, length, dim]: Qwen2.5-VL's
    layers are all attention layers (transformers types a cache's layers and their tensors more loosely)."""
    layers = []
    for layer in cache.layers:
        if not isinstance(layer, CacheLayerMixin) or layer.keys is None or layer.values is None:
            raise TypeError(f"expected a prefilled attention layer, got {type(layer).__name__}")
        layers.append((layer, layer.keys, layer.values))
    return layers
