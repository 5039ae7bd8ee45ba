"""The reference path of `benchmarks/media.py --family reason2`, run in .venv-ref (`make reference`).

Cosmos-Reason2's own preprocessing, as its repo's offline inference runs it: qwen-vl-utils 0.0.14's
`process_vision_info(image_patch_size=16, return_video_kwargs=True, return_video_metadata=True)`
reading the file with decord, then transformers 4.57's Qwen3VLProcessor on the prompt, the frames
and their metadata. It imports nothing from this project.

A small server so the benchmark can interleave it with its other paths: it loads the processor once
(from --processor, a folder with the checkpoint's tokenizer and processor configs), then for each
line `run` on stdin runs the path once and answers one JSON line: wall and CPU ms measured here
(process start-up and imports are not counted), and what came out (frame indices, grid, token
count, SHA-256 of the ids and of the float32 pixels) for the same-output check; `dump PATH`
saves the last run's pixel values there (torch.save).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

import torch  # noqa: E402
from qwen_vl_utils import process_vision_info  # noqa: E402
from transformers import AutoProcessor  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sha(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processor", required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--total-pixels", type=float, required=True)
    parser.add_argument("--text", default="Caption this video.")
    args = parser.parse_args()
    processor = AutoProcessor.from_pretrained(args.processor)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "video": args.video, "fps": args.fps, "total_pixels": args.total_pixels},
                {"type": "text", "text": args.text},
            ],
        }
    ]
    print(json.dumps({"ready": True}), flush=True)
    inputs = None
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "dump" and inputs is not None:  # the last run's pixels, for the same-output check
            torch.save(inputs["pixel_values_videos"], argument)
            print(json.dumps({"dumped": argument}), flush=True)
            continue
        if command != "run":
            break
        cpu, start = cpu_seconds(), time.perf_counter()
        prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        _, videos, kwargs = process_vision_info(
            messages, image_patch_size=16, return_video_kwargs=True, return_video_metadata=True
        )
        frames, metadata = zip(*videos, strict=True)
        inputs = processor(
            text=[prompt], videos=list(frames), video_metadata=list(metadata), return_tensors="pt", **kwargs
        )
        wall_ms, cpu_ms = (time.perf_counter() - start) * 1e3, (cpu_seconds() - cpu) * 1e3
        result = {
            "wall_ms": wall_ms,
            "cpu_ms": cpu_ms,
            "indices": [int(i) for i in metadata[0]["frames_indices"]],
            "video_grid_thw": inputs["video_grid_thw"].tolist(),
            "tokens": int(inputs["input_ids"].shape[1]),
            "input_ids_sha256": sha(inputs["input_ids"]),
            "pixel_values_videos_sha256": sha(inputs["pixel_values_videos"]),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
