"""Video preprocessing benchmark: our path vs the reference path vs the decode floor.

For 1280x720 30 fps H.264 clips (made here with PyAV, cached under benchmarks/.cache/):

  ours       data: URI string -> the server's base64 decode -> load_video -> HF processor
             (processor_videos + processor_video_kwargs) -> model-ready tensors
  reference  qwen-vl-utils process_vision_info (decord reader, file path) -> HF processor
             (the model card's path, with transformers 5.x's video_metadata)
  floor      PyAV decoding every frame of the file, no conversion (same decoder threading
             as ours)

Settings: fps 4, total_pixels 6422528 (Cosmos-Reason1's). The processor is the demo
checkpoint's (Qwen2.5-VL-7B's preprocessor config). Each path runs once to warm up, then
--repeats times interleaved; the table shows medians. Results: benchmarks/results/media.json.

Run: .venv/bin/python benchmarks/media.py [--repeats 3] [--clips 10s,60s,60s-no-bframes]
Needs the test extras plus decord (the reference reader).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # read before qwen_vl_utils is imported

import av
import numpy as np
import torch

from cosmos_reason.engine.hf.inputs import processor_videos
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.media import processor_video_kwargs
from cosmos_reason.media.options import QWEN_VL_UTILS
from cosmos_reason.media.packets import disposable_packets
from cosmos_reason.media.sources import decode_data_uri
from cosmos_reason.media.video import load_video
from cosmos_reason.media.video.demux import read_packets

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "media.json"
PROMPT = (
    "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Caption this video.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
OPTIONS = REASON1.video.over(QWEN_VL_UTILS)  # what a Cosmos-Reason1 request gets: 4 fps, 8192 tokens
FPS, TOTAL_PIXELS = OPTIONS.fps, OPTIONS.total_pixels
CLIPS: dict[str, dict[str, Any]] = {
    "10s": {"seconds": 10, "x264": {"preset": "veryfast"}},
    "60s": {"seconds": 60, "x264": {"preset": "veryfast"}},
    # The same content without B-frames: nothing to skip, so decoding costs the full floor.
    "60s-no-bframes": {"seconds": 60, "x264": {"preset": "veryfast", "x264-params": "bframes=0"}},
}


def make_clip(name: str) -> Path:
    """1280x720 30 fps H.264 with moving gradients, a checkerboard and a moving box."""
    spec = CLIPS[name]
    tag = "-".join(f"{k}{v}" for k, v in sorted(spec["x264"].items()))
    path = CACHE / f"clip-720p30-{spec['seconds']}s-{tag}.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    print(f"making {path.name} ...", file=sys.stderr, flush=True)
    width, height, fps = 1280, 720, 30
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = dict(spec["x264"])
        for i in range(spec["seconds"] * fps):
            pixels = np.stack(
                [(xx + 4 * i) % 256, (yy * 2 + 3 * i) % 256, ((xx // 16 + yy // 16 + i // 8) % 2) * 200], -1
            )
            pixels = pixels.astype(np.uint8)
            x0 = (7 * i) % (width - 40)
            pixels[10:50, x0 : x0 + 40] = (255, 255, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return path


def load_processor() -> Any:
    from transformers import AutoProcessor

    from cosmos_reason.demo.checkpoint import ensure_demo_model

    return AutoProcessor.from_pretrained(ensure_demo_model("tiny"))


def run_ours(uri: str, processor: Any) -> dict[str, Any]:
    data = decode_data_uri(uri)
    videos = [load_video(data, OPTIONS, geometry=REASON1.geometry)]
    inputs = processor(
        text=[PROMPT],
        videos=processor_videos(videos, processor.video_processor),
        **processor_video_kwargs(videos),
        return_tensors="pt",
    )
    return {"inputs": inputs, "indices": list(videos[0].frame_indices)}


def run_reference(path: Path, processor: Any) -> dict[str, Any]:
    from qwen_vl_utils import process_vision_info

    message = {
        "role": "user",
        "content": [
            {"type": "video", "video": str(path), "fps": FPS, "total_pixels": TOTAL_PIXELS},
            {"type": "text", "text": "Caption this video."},
        ],
    }
    _, videos, kwargs = process_vision_info([message], return_video_kwargs=True, return_video_metadata=True)
    frames, metadata = zip(*videos, strict=False)
    inputs = processor(text=[PROMPT], videos=list(frames), video_metadata=list(metadata), **kwargs, return_tensors="pt")
    return {"inputs": inputs, "indices": [int(i) for i in metadata[0]["frames_indices"]]}


def run_floor(data: bytes) -> dict[str, Any]:
    count = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return {"frames": count}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], dict[str, Any]]) -> tuple[float, float, dict[str, Any]]:
    cpu, start = cpu_seconds(), time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1e3, (cpu_seconds() - cpu) * 1e3, result


#: One uint8 step after the processor's normalisation, for the smallest channel std (CLIP's).
ONE_STEP = 1 / 255 / 0.26130258


def same_output(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    a, b = ours["inputs"], ref["inputs"]
    diff = (a["pixel_values_videos"] - b["pixel_values_videos"]).abs()
    return {
        "indices_equal": ours["indices"] == ref["indices"],
        "grid_equal": a["video_grid_thw"].tolist() == b["video_grid_thw"].tolist(),
        "input_ids_equal": bool(torch.equal(a["input_ids"], b["input_ids"])),
        "second_per_grid_ts_equal": torch.as_tensor(a["second_per_grid_ts"]).tolist()
        == torch.as_tensor(b["second_per_grid_ts"]).tolist(),
        "pixel_values_max_abs_diff": float(diff.max()),
        "pixel_values_max_abs_diff_in_uint8_steps": round(float(diff.max()) / ONE_STEP, 3),
        "pixel_values_differing_share": float((diff > 1e-5).float().mean()),
    }


def skipped_share(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = read_packets(container, stream)
        disposable = disposable_packets(stream.codec_context, packets)
    return len(disposable) / max(1, len(packets))


def bench_clip(name: str, processor: Any, repeats: int) -> dict[str, Any]:
    path = make_clip(name)
    data = path.read_bytes()
    uri = "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
    paths = {
        "floor": lambda: run_floor(data),
        "ours": lambda: run_ours(uri, processor),
        "reference": lambda: run_reference(path, processor),
    }
    runs: dict[str, list[tuple[float, float]]] = {key: [] for key in paths}
    last: dict[str, dict[str, Any]] = {}
    for key, fn in paths.items():  # warm-up
        last[key] = fn()
    for _ in range(repeats):
        for key, fn in paths.items():
            wall, cpu, last[key] = timed(fn)
            runs[key].append((wall, cpu))
    median = {key: statistics.median(wall for wall, _ in values) for key, values in runs.items()}
    best = {key: min(wall for wall, _ in values) for key, values in runs.items()}
    cpu = {key: statistics.median(cpu for _, cpu in values) for key, values in runs.items()}
    grid = last["ours"]["inputs"]["video_grid_thw"][0].tolist()
    return {
        "clip": name,
        "file": path.name,
        "bytes": len(data),
        "source_frames": last["floor"]["frames"],
        "kept_frames": len(last["ours"]["indices"]),
        "video_grid_thw": grid,
        "video_tokens": int(np.prod(grid)) // 4,
        "non_reference_packets_share": round(skipped_share(data), 3),
        "median_ms": {key: round(value, 1) for key, value in median.items()},
        "min_ms": {key: round(value, 1) for key, value in best.items()},
        "median_cpu_ms": {key: round(value, 1) for key, value in cpu.items()},
        "runs_ms": {key: [round(wall, 1) for wall, _ in values] for key, values in runs.items()},
        "cpu_ms": {key: [round(cpu, 1) for _, cpu in values] for key, values in runs.items()},
        "ref_over_ours": round(median["reference"] / median["ours"], 2),
        "ours_over_floor": round(median["ours"] / median["floor"], 2),
        "ref_over_ours_min": round(best["reference"] / best["ours"], 2),
        "ours_over_floor_min": round(best["ours"] / best["floor"], 2),
        "ref_over_ours_cpu": round(cpu["reference"] / cpu["ours"], 2),
        "ours_over_floor_cpu": round(cpu["ours"] / cpu["floor"], 2),
        "ref_over_floor": round(median["reference"] / median["floor"], 2),
        "load_average": os.getloadavg(),
        "same_output": same_output(last["ours"], last["reference"]),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """Wall ms (median and best of the repeats), ratios of medians, and CPU-time ratios."""
    header = (
        f"{'clip':<16}{'kept':>5}{'tokens':>7}{'ours ms':>15}{'ref ms':>15}{'floor ms':>15}"
        f"{'ref/ours':>10}{'ours/floor':>11}{'ref/floor':>10}{'cpu r/o':>9}{'cpu o/f':>9}  same"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        med, best = row["median_ms"], row["min_ms"]
        same = row["same_output"]
        identical = (
            all(v for k, v in same.items() if k.endswith("equal"))
            and same["pixel_values_max_abs_diff_in_uint8_steps"] <= 1.001
        )
        cells = "".join(f"{f'{med[key]:.0f} ({best[key]:.0f})':>15}" for key in ("ours", "reference", "floor"))
        print(
            f"{row['clip']:<16}{row['kept_frames']:>5}{row['video_tokens']:>7}{cells}"
            f"{row['ref_over_ours']:>10.2f}{row['ours_over_floor']:>11.2f}{row['ref_over_floor']:>10.2f}"
            f"{row['ref_over_ours_cpu']:>9.2f}{row['ours_over_floor_cpu']:>9.2f}  {'yes' if identical else 'NO'}"
        )
    print("ms: median (best) wall time; ratios of medians; cpu: ratios of median CPU time (all threads);")
    print("same: indices, grid, tokens, second_per_grid_ts equal and pixels within one uint8 step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", default=",".join(CLIPS))
    args = parser.parse_args()
    names = [name for name in args.clips.split(",") if name]
    load_at_start = os.getloadavg()
    for name in names:
        make_clip(name)
    processor = load_processor()
    rows = [bench_clip(name, processor, args.repeats) for name in names]
    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {"fps": FPS, "total_pixels": TOTAL_PIXELS, "repeats": args.repeats, "statistic": "median wall ms"},
        "load_average_at_start": load_at_start,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "av": av.__version__,
            "load_average_at_end": os.getloadavg(),
        },
        "clips": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
