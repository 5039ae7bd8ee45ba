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

With --family reason2 (results: benchmarks/results/media_reason2.json) the paths are Cosmos-Reason2's:

  ours       data: URI -> base64 decode -> load_video with Reason2's geometry and defaults
             (fps 4, 8192 tokens) -> the hf engine's build_inputs (4.57-form timestamps) with
             the demo:reason2 processor (Qwen3-VL's settings)
  reference  the Reason2 repo's offline path, in its own environment: qwen-vl-utils
             process_vision_info(image_patch_size=16, return_video_metadata=True) with decord,
             then transformers 4.57's Qwen3VLProcessor (benchmarks/media_reference_reason2.py,
             run by .venv-ref's python as a resident subprocess that times itself)
  floor      as above

Run: .venv/bin/python benchmarks/media.py [--repeats 3] [--clips 10s,60s,60s-no-bframes] [--family reason2]
Needs the test extras plus decord (the reference reader); reason2 also needs .venv-ref (make reference).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # read before qwen_vl_utils is imported

import av
import numpy as np
import torch

from cosmos_reason.engine.base import Conversation, Text, Turn, VideoInput
from cosmos_reason.engine.hf.inputs import build_inputs, processor_videos
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.media import processor_video_kwargs
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.media.options import QWEN_VL_UTILS
from cosmos_reason.media.packets import disposable_packets
from cosmos_reason.media.sources import decode_data_uri
from cosmos_reason.media.video import load_video
from cosmos_reason.media.video.demux import read_packets

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "media.json"
RESULTS_REASON2 = HERE / "results" / "media_reason2.json"
REFERENCE_PYTHON = Path(os.environ.get("COSMOS_REASON_REFERENCE_PYTHON", HERE.parent / ".venv-ref" / "bin" / "python"))
#: The real Reason2 checkpoints' processor settings (tests/fidelity/reason2_processor/README.md).
REASON2_PROCESSOR_CONFIGS = HERE.parent / "tests" / "fidelity" / "reason2_processor"
OPTIONS_REASON2 = REASON2.video.over(QWEN_VL_UTILS)  # what a Cosmos-Reason2 request gets: 4 fps, 8192 tokens
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


def load_reason2_processor() -> tuple[Any, Path]:
    """(our processor, a folder the reference's 4.57 AutoProcessor loads: the same tokenizer and
    template, the real checkpoints' preprocessor configs)."""
    from transformers import AutoProcessor

    from cosmos_reason.demo.checkpoint import ensure_demo_model

    checkpoint = ensure_demo_model("reason2")
    folder = Path(tempfile.mkdtemp(prefix="reason2-reference-"))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(checkpoint / name, folder / name)
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        shutil.copy(REASON2_PROCESSOR_CONFIGS / name, folder / name)
    return AutoProcessor.from_pretrained(checkpoint), folder


def run_ours_reason2(uri: str, processor: Any) -> dict[str, Any]:
    data = decode_data_uri(uri)
    video = load_video(data, OPTIONS_REASON2, geometry=REASON2.geometry)
    conversation = Conversation((Turn("user", (VideoInput(video), Text("Caption this video."))),))
    inputs = build_inputs(processor, conversation, REASON2)
    return {"inputs": inputs, "indices": list(video.frame_indices)}


class Reference:
    """benchmarks/media_reference_reason2.py in .venv-ref, resident: one `run` per timing."""

    def __init__(self, path: Path, processor_folder: Path) -> None:
        if not REFERENCE_PYTHON.exists():
            sys.exit(f"{REFERENCE_PYTHON} is missing: run `make reference` first")
        command = [
            str(REFERENCE_PYTHON),
            str(HERE / "media_reference_reason2.py"),
            "--processor",
            str(processor_folder),
        ]
        command += ["--video", str(path), "--fps", str(OPTIONS_REASON2.fps)]
        command += ["--total-pixels", str(OPTIONS_REASON2.total_pixels)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._read()  # {"ready": true}: the processor is loaded

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            sys.exit("the reference process ended early (see its error above)")
        return json.loads(line)

    def run(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._read()

    def pixels(self) -> torch.Tensor:
        """The last run's pixel_values_videos (the reference saves them, we load them)."""
        assert self.process.stdin is not None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pixels.pt"
            self.process.stdin.write(f"dump {path}\n")
            self.process.stdin.flush()
            self._read()
            return torch.load(path)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def digest(tensor: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(tensor.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def same_output_reason2(ours: dict[str, Any], ref: dict[str, Any], ref_pixels: torch.Tensor) -> dict[str, Any]:
    """Equalities by hash; pixels also as levels (0..255, mean = std = 0.5) apart, where they differ."""
    inputs = ours["inputs"]
    same = {
        "indices_equal": ours["indices"] == ref["indices"],
        "grid_equal": inputs["video_grid_thw"].tolist() == ref["video_grid_thw"],
        "input_ids_equal": digest(inputs["input_ids"]) == ref["input_ids_sha256"],
        "pixel_values_equal": digest(inputs["pixel_values_videos"]) == ref["pixel_values_videos_sha256"],
    }
    if inputs["pixel_values_videos"].shape == ref_pixels.shape:
        levels = (inputs["pixel_values_videos"].double() - ref_pixels.double()).abs() * 127.5
        same["pixel_values_max_levels_apart"] = round(float(levels.max()), 4)
        same["pixel_values_differing_share"] = float((levels > 1e-3).double().mean())
    return same


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
    """Wall and CPU ms of one run; a path run in another process reports its own (wall_ms, cpu_ms)."""
    cpu, start = cpu_seconds(), time.perf_counter()
    result = fn()
    wall, used = (time.perf_counter() - start) * 1e3, (cpu_seconds() - cpu) * 1e3
    return result.get("wall_ms", wall), result.get("cpu_ms", used), result


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


def bench_clip(name: str, processor: Any, repeats: int, reference_folder: Path | None = None) -> dict[str, Any]:
    """reference_folder set: Cosmos-Reason2's paths (the reference in .venv-ref), else Reason1's."""
    path = make_clip(name)
    data = path.read_bytes()
    uri = "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
    reference = Reference(path, reference_folder) if reference_folder is not None else None
    paths = {
        "floor": lambda: run_floor(data),
        "ours": (lambda: run_ours_reason2(uri, processor)) if reference else (lambda: run_ours(uri, processor)),
        "reference": reference.run if reference else (lambda: run_reference(path, processor)),
    }
    runs: dict[str, list[tuple[float, float]]] = {key: [] for key in paths}
    last: dict[str, dict[str, Any]] = {}
    for key, fn in paths.items():  # warm-up
        last[key] = fn()
    for _ in range(repeats):
        for key, fn in paths.items():
            wall, cpu, last[key] = timed(fn)
            runs[key].append((wall, cpu))
    ref_pixels = None
    if reference is not None:
        ref_pixels = reference.pixels()
        reference.close()
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
        "same_output": same_output(last["ours"], last["reference"])
        if ref_pixels is None
        else same_output_reason2(last["ours"], last["reference"], ref_pixels),
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
        if "pixel_values_equal" in same:  # Reason2: bit for bit, or at most one level apart
            pixels = same["pixel_values_equal"] or same.get("pixel_values_max_levels_apart", 2) <= 1.001
        else:
            pixels = same["pixel_values_max_abs_diff_in_uint8_steps"] <= 1.001
        identical = pixels and all(v for k, v in same.items() if k.endswith("equal") and k != "pixel_values_equal")
        cells = "".join(f"{f'{med[key]:.0f} ({best[key]:.0f})':>15}" for key in ("ours", "reference", "floor"))
        print(
            f"{row['clip']:<16}{row['kept_frames']:>5}{row['video_tokens']:>7}{cells}"
            f"{row['ref_over_ours']:>10.2f}{row['ours_over_floor']:>11.2f}{row['ref_over_floor']:>10.2f}"
            f"{row['ref_over_ours_cpu']:>9.2f}{row['ours_over_floor_cpu']:>9.2f}  {'yes' if identical else 'NO'}"
        )
    print("ms: median (best) wall time; ratios of medians; cpu: ratios of median CPU time (all threads);")
    print("same: indices, grid, tokens (and second_per_grid_ts) equal, pixels equal (Reason2) or within one uint8 step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--family", choices=("reason1", "reason2"), default="reason1")
    args = parser.parse_args()
    names = [name for name in args.clips.split(",") if name]
    load_at_start = os.getloadavg()
    for name in names:
        make_clip(name)
    reference_folder = None
    if args.family == "reason2":
        processor, reference_folder = load_reason2_processor()
        fps, total_pixels, results = OPTIONS_REASON2.fps, OPTIONS_REASON2.total_pixels, RESULTS_REASON2
    else:
        processor, fps, total_pixels, results = load_processor(), FPS, TOTAL_PIXELS, RESULTS
    rows = [bench_clip(name, processor, args.repeats, reference_folder) for name in names]
    print_table(rows)
    results.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "family": args.family,
        "settings": {"fps": fps, "total_pixels": total_pixels, "repeats": args.repeats, "statistic": "median wall ms"},
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
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {results.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
