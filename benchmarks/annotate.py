"""Annotation-job benchmark: items/s of `cosmos-reason annotate` on the tiny demo model.

Two sets, made here with Pillow and PyAV (cached under benchmarks/.cache/annotate/):

  images   --images small PNGs (64x48, random pixels)
  videos   --videos short H.264 clips (2 s, 10 fps, 64x48)

Each set is annotated from scratch (a fresh output file) by the job code that the command
runs (jobs.annotate.AnnotateJob: discovery, hashing, the journal with fsync per line,
retries, progress), against:

  server c=N   `python -m cosmos_reason serve --model demo` in its own process, the job
               sending N requests at a time over HTTP (--concurrency, default 1,4,16)
  in-process   the same app built in this process (`annotate --model demo`), with the
               largest concurrency; the model load is timed separately, not in items/s
  no model     the same in-process app around an engine that answers at once: the
               ceiling of the job itself (reading, hashing, base64, the app's media
               decoding, the journal's fsync per line), with the largest concurrency

Every request asks for the same thing: --prompt and at most --max-tokens tokens (16),
greedy (--temperature 0, the default, so the numbers measure the job and the serving path
rather than sampling) or, with --sampling card, no sampling fields at all: what a job that
says nothing gets, the model card's sampling (temperature 0.6, top_p 0.95, repetition
penalty 1.05). Items/s is items over the job's wall time (model id lookup included, model
load excluded). Also reported: mean per-request latency and tokens.

Run: .venv/bin/python benchmarks/annotate.py [--images 200] [--videos 20] [--concurrency 1,4,16]
     [--sampling greedy|card] [--output FILE]
Results: benchmarks/results/annotate.json (greedy), annotate_card.json (--sampling card).
The demo model has random weights: answers are noise.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_reason.server.process import ServerProcess

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "annotate"
RESULTS = HERE / "results" / "annotate.json"
ROOT = HERE.parent


def make_images(folder: Path, count: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"img{i:04d}.png"
        if not path.exists():
            pixels = np.random.default_rng(i).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, format="PNG")
    return folder


def make_videos(folder: Path, count: int, seconds: float = 2.0, fps: int = 10) -> Path:
    import av

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"clip{i:03d}.mp4"
        if path.exists():
            continue
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for f in range(int(seconds * fps)):
                frame = np.full((48, 64, 3), (f * 9 + i * 31) % 256, dtype=np.uint8)
                frame[:, : (f * 3 + i) % 64] = 255
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        path.write_bytes(buffer.getvalue())
    return folder


class NullEngine:
    """Answers every request at once with a fixed text: no model in the way."""

    def __init__(self) -> None:
        from cosmos_reason.engine.base import ModelInfo

        self.info = ModelInfo(source="null", context_length=32768, description="answers at once")

    async def generate(self, request):
        from cosmos_reason.engine.base import Delta

        for index in range(request.sampling.n):
            yield Delta(index, "A picture.", 10, 3, "stop")

    async def next_token_logprobs(self, request, candidates):
        from cosmos_reason.engine.base import NextTokenScores

        return NextTokenScores({c: -1.0 for c in candidates}, 10)

    async def abort(self, request_id: str) -> None:
        pass

    def stats(self):
        from cosmos_reason.engine.base import EngineStats

        return EngineStats()

    async def check_health(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def run_once(
    target, folder: Path, count: int, prompt: str, options: dict, concurrency: int, work: Path
) -> dict[str, Any]:
    from cosmos_reason.jobs.annotate import AnnotateJob
    from cosmos_reason.jobs.inputs import discover

    out = work / f"run-{time.monotonic_ns()}.jsonl"
    items = discover(str(folder), prompt=prompt, options=options)[:count]
    job = AnnotateJob(items, out, target=target, concurrency=concurrency, quiet=True)
    started = time.perf_counter()
    summary = await job.run()
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    latencies = [r["timing"]["request_seconds"] for r in rows if r.get("timing", {}).get("request_seconds")]
    errors = [r["error"]["message"] for r in rows if r.get("error")]
    if errors or summary.done != len(items):
        raise RuntimeError(f"{summary.done}/{len(items)} done; errors: {errors[:3]}")
    return {
        "items": len(items),
        "seconds": round(seconds, 3),
        "items_per_s": round(len(items) / seconds, 3),
        "mean_request_s": round(statistics.fmean(latencies), 3),
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from cosmos_reason.jobs.clients import in_process_target, server_target

    sets = {
        "images": (make_images(CACHE / "images", args.images), args.images, "What is in this image?"),
        "videos": (make_videos(CACHE / "videos", args.videos), args.videos, "What happens in this video?"),
    }
    options: dict[str, Any] = {"max_tokens": args.max_tokens}
    if args.sampling == "greedy":
        options["temperature"] = args.temperature
    results: list[dict[str, Any]] = []

    async def every_set(target, label: str, c: int, work: Path) -> None:
        """Both sets through one in-process target at concurrency c, then close it."""
        try:
            for name, (folder, count, prompt) in sets.items():
                row = await run_once(target, folder, count, prompt, options, c, work)
                results.append({"set": name, "target": label, "concurrency": c, **row})
                print(f"  {name:6} {label:<10} c={c:<3} {row['items_per_s']:7.2f} items/s", flush=True)
        finally:
            await target.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = ServerProcess(["--model", "demo", "--log-level", "warning"])
        try:
            server.wait_ready(300)
            url = server.url
            for name, (folder, count, prompt) in sets.items():
                for c in args.concurrency:
                    target = server_target(url, concurrency=c)
                    try:
                        row = await run_once(target, folder, count, prompt, options, c, work)
                    finally:
                        await target.aclose()
                    results.append({"set": name, "target": "server", "concurrency": c, **row})
                    print(f"  {name:6} server     c={c:<3} {row['items_per_s']:7.2f} items/s", flush=True)
        finally:
            server.stop(60)
        c = max(args.concurrency)
        started = time.perf_counter()
        target = in_process_target("demo")
        load_seconds = time.perf_counter() - started
        await every_set(target, "in-process", c, work)
        from cosmos_reason.jobs.clients import serve_settings

        target = in_process_target("demo", engine=NullEngine(), settings=serve_settings("demo"))
        await every_set(target, "no model", c, work)
    return {"results": results, "in_process_load_seconds": round(load_seconds, 2)}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| set | target | concurrency | items | seconds | items/s | mean request s | completion tokens |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['set']} | {r['target']} | {r['concurrency']} | {r['items']} | {r['seconds']:.1f} | "
            f"{r['items_per_s']:.2f} | {r['mean_request_s']:.2f} | {r['completion_tokens']} |"
        )
    return "\n".join(lines)


def _code_version() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None, "src_modified": bool(git("status", "--porcelain", "src"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument(
        "--sampling", choices=("greedy", "card"), default="greedy", help="card: send no sampling fields (the card's)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch

    from cosmos_reason.demo.checkpoint import ensure_demo_model

    ensure_demo_model("tiny")
    load_before = os.getloadavg()[0]
    print(
        f"annotate benchmark: {args.images} images, {args.videos} videos, max_tokens {args.max_tokens}, "
        f"sampling {args.sampling if args.sampling == 'card' else f'temperature {args.temperature}'}",
        flush=True,
    )
    started = time.perf_counter()
    measured = asyncio.run(bench(args))
    report = {
        "benchmark": "annotate",
        "model": "demo (tiny, random weights)",
        "settings": {
            "images": args.images,
            "videos": args.videos,
            "image_size": "64x48 PNG",
            "video": "2 s, 10 fps, 64x48 H.264",
            "max_tokens": args.max_tokens,
            "sampling": "the model card's (no sampling fields sent)" if args.sampling == "card" else "fixed",
            "temperature": args.temperature if args.sampling == "greedy" else None,
            "concurrency": args.concurrency,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_at_start": round(load_before, 2),
        },
        "code": _code_version(),
        "total_seconds": round(time.perf_counter() - started, 1),
        **measured,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report["results"]))
    print(f"in-process model load: {measured['in_process_load_seconds']} s; wrote {args.output}")


if __name__ == "__main__":
    main()
