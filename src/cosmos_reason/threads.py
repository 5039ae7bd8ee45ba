"""Torch's intra-op thread count for the process's own pool threads.

A thread takes torch's process-wide default the first time it runs a torch op, and keeps it.
The hf engine's token choice briefly sets that default to 1 on its own thread (engine/hf/
sampler.py: a choice over few logits runs on the calling thread alone), so a pool thread born in
that moment would keep one thread for its life. Pools whose threads run torch ops start each
thread with the count the process had when the pool was made.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


def keep_torch_threads() -> Callable[[], None] | None:
    """A ThreadPoolExecutor initializer that gives each new thread the current intra-op thread
    count (None when torch is not loaded: nothing to keep)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return functools.partial(torch.set_num_threads, torch.get_num_threads())
