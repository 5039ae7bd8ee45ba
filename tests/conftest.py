"""Shared fixtures: the tiny random-weight demo checkpoint, built once per session."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A suite started as a background job without job control (`cmd &` in a script, as some CI
# runners do) inherits SIGINT ignored, and so would every job the tests start: the Ctrl-C
# tests would then wait for an exit that never comes. Ctrl-C is restored here; a caught
# signal is reset to the default in the children, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache folder for demo checkpoints. A fresh temporary one unless COSMOS_REASON_CACHE
    is set (then builds are reused across runs). Pass it to server subprocesses as
    COSMOS_REASON_CACHE so they find the same build instead of making their own."""
    env = os.environ.get("COSMOS_REASON_CACHE")
    return Path(env).expanduser() if env else tmp_path_factory.mktemp("cosmos-reason-cache")


@pytest.fixture(scope="session")
def demo_model_dir(demo_cache_dir: Path) -> Path:
    """The tiny demo checkpoint folder (about 6 s to build on 2 cores, then cached)."""
    from cosmos_reason.demo.checkpoint import ensure_demo_model

    return ensure_demo_model("tiny", cache_dir=demo_cache_dir)


@pytest.fixture(scope="session")
def reason2_model_dir(demo_cache_dir: Path) -> Path:
    """The tiny Cosmos-Reason2 (Qwen3-VL) demo checkpoint folder (`demo:reason2`)."""
    from cosmos_reason.demo.checkpoint import ensure_demo_model

    return ensure_demo_model("reason2", cache_dir=demo_cache_dir)
