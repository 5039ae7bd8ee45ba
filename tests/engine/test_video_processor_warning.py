"""The transformers warning about Qwen2-VL's per-frame pixel cap has no cause on our path.

It read as if our sampling were wrong, once per process in every job and server log. We pass
the setting explicitly (False: load_video already applied qwen-vl-utils' cap; the fidelity
tests prove the output is the reference's)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cosmos_reason.engine.hf.inputs import processor_videos
from cosmos_reason.families.reason1.media import processor_video_kwargs
from tests.media_factory import load_video, make_video, reason1_video

PROMPT = "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What happens?<|im_end|>\n<|im_start|>assistant\n"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    """Everything transformers logs (its loggers do not propagate to pytest's caplog)."""
    from transformers.utils import logging as hf_logging

    logger = logging.getLogger("transformers")
    records = _Records()
    logger.addHandler(records)
    hf_logging.warning_once.cache_clear()  # a warning this process gave before shows again
    yield records
    logger.removeHandler(records)


def test_processing_a_video_gives_no_frame_cap_warning(demo_model_dir: Path, transformers_log, recwarn):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(demo_model_dir)
    videos = [load_video(make_video(64, 48, 10, 1.0), reason1_video())]
    inputs = processor(
        text=[PROMPT],
        videos=processor_videos(videos, processor.video_processor),
        **processor_video_kwargs(videos),
        return_tensors="pt",
    )
    assert inputs["video_grid_thw"].shape == (1, 3)  # the video was processed
    said = transformers_log.messages + [str(w.message) for w in recwarn]
    assert not [m for m in said if "cap_pixels_per_frame" in m or "per-frame pixel cap" in m], said
