"""The decoding passes: skipping pictures nothing refers to changes no pixel."""

from __future__ import annotations

import io

import av
import torch

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.media.packets import disposable_packets, pts_timeline
from cosmos_reason.media.video.decode import decode
from cosmos_reason.media.video.demux import read_packets
from cosmos_reason.media.video.selection import SamplePlan
from tests.media_factory import make_video, reason1_video


def test_skips_non_reference_frames_without_changing_pixels() -> None:
    data = make_video(96, 64, 30, 3.0)  # veryfast: B-frames, some never referenced
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = read_packets(container, stream)
        disposable = disposable_packets(stream.codec_context, packets)
    assert disposable, "expected non-reference B-frames in a veryfast x264 clip"
    options = reason1_video()
    plan = SamplePlan.make(len(packets), 30.0, options, REASON1.geometry)
    timeline = pts_timeline(packets)
    fast = decode(data, packets, plan, options, REASON1.geometry, timeline, disposable)
    slow = decode(data, packets, plan, options, REASON1.geometry, None, set())
    assert not fast.missing and not slow.missing
    assert fast.count < slow.count  # fewer pictures decoded
    assert torch.equal(fast.frames, slow.frames)
