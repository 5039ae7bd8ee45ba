"""Kept frames -> one uint8 array: RGB conversion, display rotation and resize.

Only the kept frames are converted and resized, one at a time on a helper thread while
the decoder goes on, into an array allocated once the first frame's size is known. The
resize kernel and its fidelity to torchvision: media/resize.py and docs/performance.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from ..options import MediaOptions
from ..resize import resizer
from ..vision_math import VisionGeometry, video_frame_size
from .selection import SamplePlan

#: Converted frames waiting for the helper thread: bounds memory when it falls behind.
_MAX_PENDING = 4


class FrameSink:
    """Converts kept frames to RGB and resizes them on a helper thread, into one array.

    The decoder keeps running meanwhile (PyAV and numpy release the GIL). Nothing here
    starts an OpenMP parallel region or a BLAS thread (see media/resize.py), so the helper never
    has worker threads spin against the decoder's threads.
    """

    def __init__(self, plan: SamplePlan, options: MediaOptions, geometry: VisionGeometry) -> None:
        self._geometry = geometry
        self._plan = plan
        self._options = options
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video-rgb")
        self._pending: deque[Future[None]] = deque()
        self._reformatter = VideoReformatter()  # reused: building a scaler per frame is slow
        self._frames: np.ndarray | None = None
        self._resize: Callable[[np.ndarray], np.ndarray] | None = None
        self.submitted = 0
        self.filled = 0
        self.source_size = (0, 0)
        self.rotation = 0

    @property
    def frames(self) -> torch.Tensor:
        if self._frames is None:
            return torch.empty((0, 3, 0, 0), dtype=torch.uint8)
        return torch.from_numpy(self._frames)

    def submit(self, index: int, frame: av.VideoFrame) -> None:
        self.submitted += len(self._plan.slots[index])
        self._pending.append(self._pool.submit(self._store, index, frame))
        while len(self._pending) > _MAX_PENDING:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _store(self, index: int, frame: av.VideoFrame) -> None:
        rotation = _rotation(frame)
        rgb = _upright(self._reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray(), rotation)
        if self._frames is None:
            self._allocate(rgb.shape[0], rgb.shape[1])
            self.rotation = rotation
        assert self._frames is not None and self._resize is not None
        chw = self._resize(rgb)
        for position in self._plan.slots[index]:
            self._frames[position] = chw
            self.filled += 1

    def _allocate(self, height: int, width: int) -> None:
        options = self._options
        self.source_size = (height, width)
        out_h, out_w = video_frame_size(
            height,
            width,
            self._plan.nframes,
            self._geometry,
            min_pixels=options.min_pixels,
            max_pixels=options.max_pixels,
            total_pixels=options.total_pixels,
        )
        self._frames = np.empty((self._plan.nframes, 3, out_h, out_w), dtype=np.uint8)
        self._resize = resizer(height, width, out_h, out_w)


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise turn (0/90/180/270) the display matrix asks for, as decord applies it."""
    try:
        return round(frame.rotation) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if rotation in (90, 180, 270):
        return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb
