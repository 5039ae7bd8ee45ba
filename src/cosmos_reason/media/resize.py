"""torchvision's bicubic antialiased resize of uint8 frames, as banded matrix products.

qwen-vl-utils resizes video frames with torchvision (bicubic, antialias); see _Resizer for
how this computes the same values, within one rounding step, 2-3x faster.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
import torch
import torch.nn.functional as F


def resize_bicubic_aa(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, height, width) uint8: qwen-vl-utils' resize, within rounding."""
    return resizer(rgb.shape[0], rgb.shape[1], height, width)(rgb)


def resizer(src_h: int, src_w: int, height: int, width: int) -> Callable[[np.ndarray], np.ndarray]:
    """(H, W, 3) uint8 frames of one size -> (3, height, width) uint8; frames already at that
    size are only transposed."""
    if (src_h, src_w) == (height, width):
        return lambda rgb: rgb.transpose(2, 0, 1)
    return _Resizer(src_h, src_w, height, width)


class _Resizer:
    """torchvision's bicubic antialiased resize of uint8 frames of one size, as two matmuls.

    qwen-vl-utils calls torchvision's resize (bicubic, antialias) on uint8, which runs
    torch's separable float kernel: a width pass, then a height pass, then clamp and round.
    Each pass is linear, so it is a matrix product with that kernel's own weights, which we
    take from the kernel itself (resizing an identity matrix returns them, exactly). The
    weights are banded, so each pass multiplies only the band of every block of outputs.
    The sums run in another order than torch's loop, so a value within float rounding of
    a .5 boundary can round the other way: at most 1 apart, about 1 value in 100,000. This
    is 2-3x faster than calling the kernel, and it runs on numpy's BLAS, kept to one
    thread (see single_threaded_blas) so it never spins against the decoder's threads.

    Not thread-safe (it reuses its buffers): one per frame sink.
    """

    def __init__(self, src_h: int, src_w: int, height: int, width: int) -> None:
        single_threaded_blas()
        self.shape = (src_h, src_w, height, width)
        self._x = np.empty((3, src_h, src_w), dtype=np.float32)
        self._wide = np.empty((3 * src_h, width), dtype=np.float32)
        self._out = np.empty((3, height, width), dtype=np.float32)
        self._columns = _band_blocks(src_w, width)
        self._rows = _band_blocks(src_h, height)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        src_h, src_w, _, width = self.shape
        np.copyto(self._x, rgb.transpose(2, 0, 1))
        flat = self._x.reshape(3 * src_h, src_w)
        for start, stop, first, last, weights in self._columns:
            np.matmul(flat[:, first:last], weights, out=self._wide[:, start:stop])
        wide = self._wide.reshape(3, src_h, width)
        for start, stop, first, last, weights in self._rows:
            np.matmul(weights.T, wide[:, first:last], out=self._out[:, start:stop])
        np.clip(self._out, 0, 255, out=self._out)
        np.rint(self._out, out=self._out)  # round half to even, as torch.round
        return self._out.astype(np.uint8)


#: Outputs per block of a banded pass: small enough to skip most zeros, big enough for BLAS.
_BLOCK = 32


@lru_cache(maxsize=64)
def _band_blocks(size: int, new_size: int) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """torch's antialiased bicubic weights from `size` to `new_size` samples, in blocks.

    Each block is (start, stop, first, last, weights): outputs [start, stop) need only
    inputs [first, last), with weights[i - first, o - start] the weight of input i in
    output o.
    """
    rows = max(size, 4)  # torch's antialiased kernel mishandles an image one pixel thick
    identity = torch.eye(rows, size, dtype=torch.float32)[None, None]
    full = F.interpolate(identity, size=(rows, new_size), mode="bicubic", align_corners=False, antialias=True)
    matrix = full[0, 0, :size].numpy()
    blocks = []
    for start in range(0, new_size, _BLOCK):
        stop = min(new_size, start + _BLOCK)
        used = np.flatnonzero(matrix[:, start:stop].any(axis=1))
        first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        weights = np.ascontiguousarray(matrix[first:last, start:stop])
        weights.setflags(write=False)
        blocks.append((start, stop, first, last, weights))
    return tuple(blocks)


@cache
def single_threaded_blas() -> None:
    """Keep numpy's BLAS (OpenBLAS) to one thread in this process, once.

    Its only user here is the video resize, which runs on helper threads while the
    decoder's threads use the cores: OpenBLAS's own threads would busy-wait against them.
    torch's BLAS (MKL) is separate and keeps its threads.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
