"""Shared fixtures: the tiny random-weight demo checkpoint, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
