"""The running batch's shared KV cache, left-padded so rows of different
lengths decode together; rows join after their own prefill and leave when done."""

from __future__ import annotations

import torch
from transformers import DynamicCache


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

    def join(self, cache: DynamicCache, rows: int) -> None:
        """Add a freshly prefilled single-sequence cache as `rows` rows (n choices share one prefill)."""
        incoming = cache.get_seq_length()
        if self.cache is None:
            if rows > 1:
                cache.batch_repeat_interleave(rows)
            self.cache, self.pads = cache, [0] * rows
            return
        width = max(self.length, incoming)
        grow = width - self.length
        self._pad_left(self.cache, grow)
        self._pad_left(cache, width - incoming)
        for mine, theirs in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([mine.keys, theirs.keys.expand(rows, -1, -1, -1)], dim=0)
            mine.values = torch.cat([mine.values, theirs.values.expand(rows, -1, -1, -1)], dim=0)
        self.pads = [p + grow for p in self.pads] + [width - incoming] * rows

    def keep(self, indices: list[int]) -> None:
        """Drop every row not in `indices`, then the padding columns no row needs any more."""
        if not indices:
            self.cache, self.pads = None, []
            return
        self.cache.batch_select_indices(torch.tensor(indices, device=self.cache.layers[0].keys.device))
        self.pads = [self.pads[i] for i in indices]
        trim = min(self.pads)
        if trim:
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, trim:, :]
                layer.values = layer.values[:, :, trim:, :]
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
        for layer in cache.layers:
            layer.keys = torch.nn.functional.pad(layer.keys, (0, 0, amount, 0))
            layer.values = torch.nn.functional.pad(layer.values, (0, 0, amount, 0))
