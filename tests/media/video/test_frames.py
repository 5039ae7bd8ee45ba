"""The frame sink: only the kept frames are converted to RGB."""

from __future__ import annotations

import av
import pytest

import cosmos_reason.media.video.frames as frames_module
from tests.media_factory import load_video, make_video, reason1_video


def test_converts_only_kept_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = frames_module.VideoReformatter

    class CountingReformatter:
        def __init__(self) -> None:
            self._inner = original()

        def reformat(self, frame: av.VideoFrame, **kwargs: object) -> av.VideoFrame:
            calls.append(frame.pts)
            return self._inner.reformat(frame, **kwargs)

    monkeypatch.setattr(frames_module, "VideoReformatter", CountingReformatter)
    video = load_video(make_video(64, 48, 30, 4.0), reason1_video())  # 120 frames, 16 kept
    assert len(calls) == video.num_frames == 16
