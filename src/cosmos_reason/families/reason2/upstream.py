"""How Cosmos-Reason2's decoded videos reach a vLLM upstream so that it writes the same
`<t seconds>` timestamps as our engine (docs/deployment.md#media-forwarding).

The frames go as vLLM's pre-sampled list (`data:video/jpeg;base64,...`, engine/upstream/media.py).
vLLM's Qwen3-VL processor writes each temporal patch's time as the mean of `frames_indices[i] /
fps` over the patch's two frames, from the video's metadata; for a frame list that metadata is
what the request's `media_io_kwargs.video` says (`fps`, `frames_indices`, `total_num_frames`:
vLLM PR #40133, `VideoMediaIO.load_base64`), and without it vLLM assumes the frames are 0, 1, 2,
... of a clip at 1 fps. So each request carries the source's real frame rate and the indices of
the frames kept, exactly the metadata our engine gives the processor (DecodedVideo.metadata).
"""

from __future__ import annotations

from typing import Any


def upstream_video_fields(videos: list[Any]) -> dict[str, Any]:
    """Request-level fields for a vLLM upstream serving Reason2 (Qwen3-VL):

    `media_io_kwargs.video = {num_frames: -1, fps: <source fps>, frames_indices: [...],
    total_num_frames: <frames in the sampled span>}` (-1 keeps every frame sent; vLLM's default
    keeps 32) and `mm_processor_kwargs = {do_sample_frames: false}` (the frames are sampled).

    vLLM takes media_io_kwargs per modality, not per video, so every video of one request must
    have the same timing (source fps and kept frame indices); ValueError (our 400) otherwise.
    """
    timings = {_timing(video) for video in videos}
    if len(timings) > 1:
        raise ValueError(
            "videos with different frame timing (source fps or sampled frames) in one request can't be sent "
            "to a vLLM upstream serving Cosmos-Reason2: its media_io_kwargs say one fps and one list of frame "
            "indices for every video of a request; send them in separate requests"
        )
    fps, indices, total = timings.pop()
    return {
        "media_io_kwargs": {
            "video": {"num_frames": -1, "fps": fps, "frames_indices": list(indices), "total_num_frames": total}
        },
        "mm_processor_kwargs": {"do_sample_frames": False},
    }


def _timing(video: Any) -> tuple[float, tuple[int, ...], int]:
    """(source fps, kept frame indices, total_num_frames) as vLLM checks them: the total is at least
    the number of frames sent (it only sizes the clip; the timestamps come from fps and indices)."""
    indices = tuple(int(i) for i in video.frame_indices)
    return float(video.fps), indices, max(int(video.clip_frames), len(indices))
