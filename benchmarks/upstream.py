"""`--engine upstream` benchmark: what the front costs, and what media forwarding sends.

1. Overhead. One upstream (our own server on the demo checkpoint, a separate process) and
   one front (`--engine upstream` over it). The same workload is run straight at the
   upstream and through the front, with a lean aiohttp client: --concurrency streams at once
   (16), each a short prompt asking for --max-tokens tokens (32; ignore_eos, temperature 0,
   repetition_penalty 1, include_usage). After a
   warm-up of each, runs go in ABBA blocks (direct, front, front, direct), so that a
   change in the machine's load during a block hits both sides alike:

     throughput   completion tokens (usage) per second of wall time, all streams together
     TTFT         time from sending a request to its first content chunk, median of a run
     loss         1 - front throughput / direct throughput, per block; median of the blocks
     added TTFT   front TTFT - direct TTFT, per block; median of the blocks
     front CPU    CPU time of the front process (from /proc) per 1000 streamed tokens

   Targets: at most 5 % loss and at most 5 ms added median TTFT. Three arrival patterns,
   each in its own ABBA blocks:

     closed     16 workers start together and each sends its next request as soon as the
                last ends (--rounds each, so 64 requests a run): a client held at 16
                concurrent streams, as vLLM's benchmark_serving --max-concurrency 16 does
     staggered  the same, but the workers' starts spread over one request's duration, so
                that requests arrive one by one as earlier ones finish
     burst      one wave: the run's 16 requests sent in the same instant and nothing
                after (--burst-blocks); the front handles them one after another on
                its event loop before the upstream sees the last, the worst moment
                for a single front process

   The front's own latency is also measured one request at a time ("alone": 8 x 8
   requests each way, ABBA), with the front's CPU time per request.

   CPUs: by default the upstream gets half of the machine's CPUs to itself (a GPU server
   has its own device) and the front and the clients share the rest; --no-pin shares all.

2. Bytes per 60 s video. The 60 s 1280x720 30 fps clip of benchmarks/media.py, decoded as
   our media pipeline does by default (4 fps, Cosmos-Reason1's 8192-token budget), then
   encoded as each upstream would receive it: vLLM's frame list with PNG (default),
   lossless WebP or JPEG frames, and the lossless FFV1 file for our own server; sizes are
   of the string sent (base64 included), next to the original file's as a data: URI.

Run: .venv/bin/python benchmarks/upstream.py [--blocks 8] [--burst-blocks 24] [--max-tokens 32]
Results: benchmarks/results/upstream.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from cosmos_reason.server.process import ServerProcess, free_port, process_cpu_seconds

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "upstream.json"
UPSTREAM_KEY = "bench-upstream"
FRONT_KEY = "bench-front"


async def run_load(
    base_url: str,
    key: str,
    model: str,
    requests: int,
    concurrency: int,
    max_tokens: int,
    tag: str,
    stagger_s: float = 0.0,
) -> dict[str, Any]:
    """`requests` streams through `concurrency` workers; worker i starts i * stagger_s late.

    The client is lean on purpose (aiohttp, one json.loads per event, as vLLM's own serving
    benchmark does): it shares a core with the front, so a heavy client (the openai SDK
    parses every chunk into pydantic models) would measure the client's appetite rather
    than the front's."""
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)
        ttfts: list[float] = []
        tokens = 0

        async def one(i: int) -> None:
            nonlocal tokens
            body = json.dumps(
                {
                    "model": model,
                    "messages": [{"role": "user", "content": f"Tell story number {i} ({tag})."}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "ignore_eos": True,
                    "repetition_penalty": 1.0,
                }
            )
            started = time.perf_counter()
            first = None
            async with http.post(f"{base_url}/v1/chat/completions", data=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"{base_url} answered {response.status}: {await response.text()}")
                async for line in response.content:
                    if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                        continue
                    event = json.loads(line[6:])
                    choices = event.get("choices")
                    if first is None and choices and choices[0]["delta"].get("content"):
                        first = time.perf_counter() - started
                    if event.get("usage"):
                        tokens += event["usage"]["completion_tokens"]
            ttfts.append(first if first is not None else float("nan"))

        async def worker(delay: float) -> None:
            await asyncio.sleep(delay)
            while not queue.empty():
                await one(queue.get_nowait())

        started = time.perf_counter()
        await asyncio.gather(*(worker(w * stagger_s) for w in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "tokens": tokens,
        "throughput_tok_s": tokens / wall,
        "median_ttft_ms": statistics.median(ttfts) * 1e3,
        "ttft_ms": [round(t * 1e3, 1) for t in ttfts],
    }


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(upstream's CPUs, front's and client's CPUs): the upstream gets the second half to itself."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return set(cpus[half:]), set(cpus[:half])


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    cache = {
        "COSMOS_REASON_CACHE": os.environ.get("COSMOS_REASON_CACHE", str(Path.home() / ".cache" / "cosmos-reason"))
    }
    # The paced stand-in needs next to no CPU: nothing is pinned then, and the front's workers
    # may use every core.
    upstream_cpus, front_cpus = cpu_split(args.pin and args.upstream == "demo")
    all_cpus = os.sched_getaffinity(0)
    if args.upstream == "paced":
        port = free_port()
        upstream = ServerProcess(
            command=[
                sys.executable,
                str(HERE / "paced_upstream.py"),
                "--port",
                str(port),
                "--ttft-ms",
                str(args.paced_ttft_ms),
                "--itl-ms",
                str(args.paced_itl_ms),
            ],
            port=port,
            log_name=f"paced-upstream-{port}.log",
        )
    else:
        upstream = ServerProcess(
            [
                "--model",
                args.model,
                "--api-key",
                UPSTREAM_KEY,
                "--max-num-seqs",
                str(max(32, args.concurrency)),
                "--served-model-name",
                "bench",
                "--log-level",
                "warning",
            ],
            env=cache,
            cpus=upstream_cpus,
        )
    upstream.wait_ready(300)
    front = ServerProcess(
        [
            "--engine",
            "upstream",
            "--upstream",
            f"{upstream.url}/v1?key_env=BENCH_UPSTREAM_KEY",
            "--api-key",
            FRONT_KEY,
            "--served-model-name",
            "bench",
            "--log-level",
            "warning",
            "--workers",
            str(args.front_workers),
        ],
        env={"BENCH_UPSTREAM_KEY": UPSTREAM_KEY},
        cpus=front_cpus,
    )
    if front_cpus:
        os.sched_setaffinity(0, front_cpus)  # the clients run beside the front, as they would beside a real one
    try:
        front.wait_ready(300)
        targets = {"direct": (upstream.url, UPSTREAM_KEY), "front": (front.url, FRONT_KEY)}

        def front_cpu() -> float:
            """CPU seconds of the front: its process and, with --front-workers, its workers."""
            return front.cpu_seconds() + sum(process_cpu_seconds(pid) for pid in front.children())

        def load(name: str, requests: int, stagger_s: float = 0.0) -> dict[str, Any]:
            url, key = targets[name]
            cpu = front_cpu()
            result = asyncio.run(
                run_load(url, key, "bench", requests, args.concurrency, args.max_tokens, name, stagger_s)
            )
            result["front_cpu_s"] = front_cpu() - cpu
            return result

        for name in targets:  # warm-up: connections, caches, allocator
            load(name, args.concurrency)
        # One request at a time: the front's own latency, without 16 streams' queueing noise.
        alone: dict[str, list[float]] = {"direct": [], "front": []}
        alone_cpu = 0.0
        for name in ["direct", "front", "front", "direct"] * 4:
            url, key = targets[name]
            cpu = front_cpu()
            alone[name] += asyncio.run(run_load(url, key, "bench", 8, 1, 4, name))["ttft_ms"]
            if name == "front":
                alone_cpu += front_cpu() - cpu
        # Starts spread over one request's duration, taken from a closed-loop run's first wave.
        gap = load("direct", args.concurrency)["wall_s"] / args.concurrency
        plans = {
            "closed": (args.concurrency * args.rounds, 0.0, args.blocks),
            "staggered": (args.concurrency * args.rounds, gap, args.blocks),
            "burst": (args.concurrency, 0.0, args.burst_blocks),
        }
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for pattern, (requests, stagger, blocks) in plans.items():
            runs[pattern] = {"direct": [], "front": []}
            for name in ["direct", "front", "front", "direct"] * blocks:
                run = load(name, requests, stagger)
                runs[pattern][name].append(run)
                print(
                    f"  {pattern:<9} {name:<6} {run['throughput_tok_s']:8.1f} tok/s  "
                    f"median TTFT {run['median_ttft_ms']:7.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        os.sched_setaffinity(0, all_cpus)
        front.stop()
        upstream.stop()
    front_runs = [r for pattern in runs.values() for r in pattern["front"]]
    return {
        "settings": {
            "upstream": args.upstream if args.upstream == "paced" else f"cosmos-reason on {args.model}",
            **(
                {"paced_ttft_ms": args.paced_ttft_ms, "paced_itl_ms": args.paced_itl_ms}
                if args.upstream == "paced"
                else {}
            ),
            "front_workers": args.front_workers,
            "concurrency": args.concurrency,
            "max_tokens": args.max_tokens,
            "upstream_cpus": sorted(upstream_cpus) if upstream_cpus else "shared",
            "front_and_client_cpus": sorted(front_cpus) if front_cpus else "shared",
            "order": "ABBA (direct, front, front, direct) x blocks",
            "staggered_start_gap_s": round(gap, 4),
        },
        "targets": {"throughput_loss_pct": 5.0, "added_median_ttft_ms": 5.0},
        "patterns": {
            pattern: summarize(runs[pattern], requests, blocks) for pattern, (requests, _, blocks) in plans.items()
        },
        "alone": {
            "requests_each": len(alone["direct"]),
            "max_tokens": 4,
            "direct_median_ttft_ms": round(statistics.median(alone["direct"]), 2),
            "front_median_ttft_ms": round(statistics.median(alone["front"]), 2),
            "added_median_ttft_ms": round(statistics.median(alone["front"]) - statistics.median(alone["direct"]), 2),
            "front_cpu_ms_per_request": round(1e3 * alone_cpu / len(alone["front"]), 2),
        },
        "front_cpu_ms_per_1000_tokens": round(
            1e6 * sum(r["front_cpu_s"] for r in front_runs) / max(1, sum(r["tokens"] for r in front_runs)), 1
        ),
        "front_cpu_share_of_machine_pct": round(
            100
            * sum(r["front_cpu_s"] for r in front_runs)
            / sum(r["wall_s"] for r in front_runs)
            / (os.cpu_count() or 1),
            1,
        ),
    }


def summarize(runs: dict[str, list[dict[str, Any]]], requests: int, blocks: int) -> dict[str, Any]:
    loss, added, losses, deltas = compare(runs, blocks)
    return {
        "requests_per_run": requests,
        "blocks": blocks,
        **{
            name: {
                "throughput_tok_s": round(statistics.median(r["throughput_tok_s"] for r in rs), 1),
                "median_ttft_ms": round(statistics.median(r["median_ttft_ms"] for r in rs), 1),
            }
            for name, rs in runs.items()
        },
        "throughput_loss_pct": round(100 * loss, 2),  # median over blocks
        "added_median_ttft_ms": round(added, 2),  # median over blocks
        "per_block": {
            "throughput_loss_pct": [round(100 * x, 1) for x in losses],
            "added_median_ttft_ms": [round(x, 1) for x in deltas],
        },
        "targets_met": {"throughput": loss <= 0.05, "ttft": added <= 5.0},
        "runs": {
            name: [
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "ttft_ms"} for r in rs
            ]
            for name, rs in runs.items()
        },
    }


def compare(runs: dict[str, list[dict[str, Any]]], blocks: int) -> tuple[float, float, list[float], list[float]]:
    """Per ABBA block (2 direct runs around 2 front runs, so drift in the machine's load cancels):
    throughput loss and added median TTFT; returns their medians over the blocks, then the lists."""
    losses, deltas = [], []
    for b in range(blocks):
        d, f = runs["direct"][2 * b : 2 * b + 2], runs["front"][2 * b : 2 * b + 2]
        losses.append(1 - sum(r["throughput_tok_s"] for r in f) / sum(r["throughput_tok_s"] for r in d))
        deltas.append((sum(r["median_ttft_ms"] for r in f) - sum(r["median_ttft_ms"] for r in d)) / 2)
    return statistics.median(losses), statistics.median(deltas), losses, deltas


def media_bytes() -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from media import make_clip  # benchmarks/media.py: the same synthetic 60 s clip

    from cosmos_reason.engine.upstream import media as upstream_media
    from cosmos_reason.families.reason1 import REASON1
    from cosmos_reason.media.options import QWEN_VL_UTILS
    from cosmos_reason.media.video import load_video

    path = make_clip("60s")
    data = path.read_bytes()
    video = load_video(data, REASON1.video.over(QWEN_VL_UTILS), geometry=REASON1.geometry)
    height, width = video.frames.shape[2:]
    rows = {"original file (data: URI)": (len(base64.b64encode(data)), 0.0)}
    forms = {
        "vllm frames=png (default)": lambda: upstream_media.video_frames_data_uri(video, "png"),
        "vllm frames=webp": lambda: upstream_media.video_frames_data_uri(video, "webp"),
        "vllm frames=jpeg": lambda: upstream_media.video_frames_data_uri(video, "jpeg"),
        "cosmos FFV1/AVI": lambda: upstream_media.cosmos_video_part(video)["url"],
    }
    for name, encode in forms.items():
        started = time.perf_counter()
        uri = encode()
        rows[name] = (len(uri), time.perf_counter() - started)
    raw = video.frames.numel()
    return {
        "clip": path.name,
        "seconds": 60,
        "kept_frames": video.num_frames,
        "frame_size": [int(height), int(width)],
        "sample_fps": video.sample_fps,
        "raw_rgb_bytes": raw,
        "forms": {
            name: {"bytes_sent": size, "mb": round(size / 1e6, 2), "encode_s": round(seconds, 2)}
            for name, (size, seconds) in rows.items()
        },
        "note": "synthetic high-entropy content (sharp moving gradients and a checkerboard): a worst case for "
        "compression; natural video compresses better in every form",
    }


def print_tables(report: dict[str, Any]) -> None:
    o = report["overhead"]
    s = o["settings"]
    print(
        f"\nfront overhead: {s['concurrency']} concurrent streams of {s['max_tokens']} tokens, ABBA blocks "
        f"(medians of runs; loss and added TTFT: medians of the blocks' own comparisons)"
    )
    print(
        f"{'pattern':<11}{'requests':>9}{'blocks':>7}{'direct tok/s':>14}{'front tok/s':>13}{'loss %':>8}"
        f"{'direct TTFT':>13}{'front TTFT':>12}{'added ms':>10}  targets"
    )
    for pattern, p in o["patterns"].items():
        met = (
            "met"
            if all(p["targets_met"].values())
            else ", ".join(f"{k} NOT met" for k, v in p["targets_met"].items() if not v)
        )
        print(
            f"{pattern:<11}{p['requests_per_run']:>9}{p['blocks']:>7}{p['direct']['throughput_tok_s']:>14.1f}"
            f"{p['front']['throughput_tok_s']:>13.1f}{p['throughput_loss_pct']:>8.1f}"
            f"{p['direct']['median_ttft_ms']:>13.1f}{p['front']['median_ttft_ms']:>12.1f}"
            f"{p['added_median_ttft_ms']:>10.1f}  {met}"
        )
    a = o["alone"]
    print(
        f"one request at a time ({a['requests_each']} each, {a['max_tokens']} tokens): median TTFT direct "
        f"{a['direct_median_ttft_ms']:.1f} ms, front {a['front_median_ttft_ms']:.1f} ms, "
        f"added {a['added_median_ttft_ms']:.1f} ms; front CPU {a['front_cpu_ms_per_request']:.1f} ms per request, "
        f"{o['front_cpu_ms_per_1000_tokens']:.0f} ms per 1000 streamed tokens"
    )
    if "media" not in report:
        return
    m = report["media"]
    print(
        f"\nbytes sent per 60 s video ({m['kept_frames']} frames of {m['frame_size'][0]}x{m['frame_size'][1]}, "
        f"raw RGB {m['raw_rgb_bytes'] / 1e6:.1f} MB)"
    )
    for name, row in m["forms"].items():
        print(f"  {name:<28}{row['mb']:>8.1f} MB   encode {row['encode_s']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo", help="checkpoint for the upstream (default: the tiny demo)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument(
        "--blocks",
        type=int,
        default=8,
        help="ABBA blocks (direct, front, front, direct) of the closed and staggered patterns",
    )
    parser.add_argument("--rounds", type=int, default=4, help="requests per worker in a closed or staggered run")
    parser.add_argument(
        "--burst-blocks",
        type=int,
        default=24,
        help="ABBA blocks of the burst pattern (one wave each run: noisier, so more of them)",
    )
    parser.add_argument(
        "--upstream",
        choices=["demo", "paced"],
        default="demo",
        help="demo: our own server on --model (default); paced: benchmarks/paced_upstream.py, a "
        "stand-in for a GPU server that answers on a fixed clock at next to no CPU",
    )
    parser.add_argument("--paced-ttft-ms", type=float, default=20.0)
    parser.add_argument("--paced-itl-ms", type=float, default=10.0)
    parser.add_argument("--front-workers", type=int, default=1, help="the front's --workers")
    parser.add_argument("--skip-media", action="store_true")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the upstream, the front and the client share every CPU (by default the upstream "
        "gets half of them to itself, as a GPU server has its own device)",
    )
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    report: dict[str, Any] = {"overhead": overhead(args)}
    if not args.skip_media:
        report["media"] = media_bytes()
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }
    print_tables(report)
    results = (
        RESULTS
        if (args.upstream, args.front_workers) == ("demo", 1)
        else RESULTS.with_name(f"upstream_{args.upstream}_workers{args.front_workers}.json")
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {results.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
