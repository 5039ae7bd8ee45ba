"""What one token choice (`choose_tokens`) costs, alone and inside the engine, greedy against the
model card's sampling: the numbers behind docs/performance.md's account of the tiny model's
image gap and of Reason2's top-k route.

  engine   the hf engine in this process on the tiny demo model, N concurrent requests of 64
           tokens (`ignore_eos`), a text or an image prompt (one 640x480 picture); the mean time
           per `choose_tokens` call, and tokens/s. `threads`: "engine" is what the engine does (a
           choice over at most sampler.SERIAL_LOGITS logits on the calling thread alone, larger
           ones on torch's intra-op threads), "parallel" every choice on the intra-op threads
           (SERIAL_LOGITS 0); with --serial-limit both, at 1, 2, 4, 8 and 16 streams: the runs
           the limit is taken from.
  alone    the same call in a loop on logits captured from that engine (the tiny model's own,
           nearly flat softmax), with a 400-token history, nothing else running: median ms.
  top-k    Reason2's candidate search on [16, 151936] scores: `topk` over the whole vocabulary
           against `top_values` (the blocks with the highest maxima), median ms.

Run: .venv/bin/python benchmarks/choose.py [--reps 6] [--serial-limit]
Results: benchmarks/results/choose.json. Needs a quiet machine: these are milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "choose.json"
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from serve import SAMPLINGS  # noqa: E402  (one definition of the settings for every benchmark)

import cosmos_reason.engine.hf.batch as batch  # noqa: E402
import cosmos_reason.engine.hf.sampler as sampler  # noqa: E402
from cosmos_reason.engine.base import (  # noqa: E402
    Conversation,
    GenerationRequest,
    ImageInput,
    SamplingParams,
    Text,
    Turn,
)
from cosmos_reason.engine.hf.draw import RowSampling, top_values  # noqa: E402
from cosmos_reason.engine.hf.sampler import choose_tokens  # noqa: E402

IMAGE = Image.fromarray((np.random.default_rng(0).random((480, 640, 3)) * 255).astype("uint8"))


def params(name: str, max_tokens: int = 64) -> SamplingParams:
    s = SAMPLINGS[name]
    return SamplingParams(
        max_tokens=max_tokens,
        ignore_eos=True,
        temperature=s["temperature"],
        top_p=s.get("top_p", 1.0),
        repetition_penalty=s["repetition_penalty"],
    )


class Timed:
    """Wraps the running batch's choose_tokens: time per call, and the first logits seen."""

    def __init__(self) -> None:
        self.original = batch.choose_tokens
        self.seconds, self.calls = 0.0, 0
        self.captured: list[torch.Tensor] = []
        batch.choose_tokens = self._call

    def _call(self, logits, *args, **kwargs):
        if len(self.captured) < 16 and logits.shape[0] == 1:
            self.captured.append(logits.clone())
        start = time.perf_counter()
        try:
            return self.original(logits, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def take(self) -> float:
        mean = self.seconds / self.calls * 1e3 if self.calls else float("nan")
        self.seconds, self.calls = 0.0, 0
        return mean


async def one(engine, i: int, workload: str, p: SamplingParams) -> None:
    parts = ((ImageInput(IMAGE),) if workload == "image" else ()) + (Text(f"Request {i}. What happens next?"),)
    request = GenerationRequest(f"choose-{i}-{time.monotonic_ns()}", Conversation((Turn("user", parts),)), p)
    async for _ in engine.generate(request):
        pass


async def in_engine(loaded, timer: Timed, reps: int, serial_limit: bool) -> list[dict[str, Any]]:
    from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine

    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=32, max_queued_requests=256))
    runs = []
    limit = sampler.SERIAL_LOGITS
    try:
        for workload in ("text", "image"):
            for streams in (1, 2, 4, 8, 16) if serial_limit else (1, 16):
                for threads in ("engine", "parallel") if serial_limit else ("engine",):
                    for name in ("greedy", "card", "card", "greedy"):  # ABBA
                        p = params(name)
                        sampler.SERIAL_LOGITS = limit if threads == "engine" else 0
                        await asyncio.gather(*[one(engine, i, workload, p) for i in range(streams)])  # warm
                        timer.take()
                        start = time.perf_counter()
                        waves = reps if streams > 2 else 3 * reps
                        for _ in range(waves):
                            await asyncio.gather(*[one(engine, i, workload, p) for i in range(streams)])
                        wall = time.perf_counter() - start
                        tokens = 64 * streams * waves
                        runs.append(
                            {
                                "workload": workload,
                                "streams": streams,
                                "threads": threads,
                                "sampling": name,
                                "tokens_per_s": tokens / wall,
                                "choose_ms_per_call": timer.take(),
                            }
                        )
                        r = runs[-1]
                        print(
                            f"  engine {workload:5} x{streams:<3} {threads:7} {name:6} {r['tokens_per_s']:8.1f} tok/s"
                            f"  choose {r['choose_ms_per_call']:.2f} ms/call",
                            flush=True,
                        )
    finally:
        sampler.SERIAL_LOGITS = limit
        await engine.shutdown()
    return runs


def median_ms(fn, reps: int = 300) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def alone(captured: list[torch.Tensor]) -> list[dict[str, Any]]:
    """choose_tokens on the engine's own logits, in a loop, nothing else running."""
    logits = torch.cat(captured)
    rows_out = []
    for rows in (1, 16):
        base = logits[torch.arange(rows) % len(logits)].clone()
        history = torch.randint(0, base.shape[1], (rows, 400))
        for name in ("greedy", "card"):
            p = params(name)
            penalty = torch.full((rows, 1), p.repetition_penalty)
            sampling = [RowSampling(p, None) for _ in range(rows)]
            work = base.clone()

            def call(work=work, base=base, history=history, penalty=penalty, sampling=sampling) -> None:
                work.copy_(base)
                choose_tokens(work, history, penalty, sampling, [10] * len(sampling))

            copy = median_ms(lambda work=work, base=base: work.copy_(base))
            rows_out.append({"rows": rows, "sampling": name, "choose_ms": median_ms(call) - copy})
            print(f"  alone  x{rows:<3} {name:6} choose {rows_out[-1]['choose_ms']:.3f} ms", flush=True)
    return rows_out


def top_k_route() -> dict[str, float]:
    scores = torch.randn(16, 151_936, generator=torch.Generator().manual_seed(0))
    result = {
        "topk_ms": median_ms(lambda: scores.topk(21, dim=-1)),
        "top_values_ms": median_ms(lambda: top_values(scores, 21)),
    }
    print(f"  top-k  16 rows: topk {result['topk_ms']:.3f} ms, top_values {result['top_values_ms']:.3f} ms")
    return result


def nucleus(captured: list[torch.Tensor]) -> dict[str, float]:
    """How flat the tiny model's softmax is at the card's temperature: the 0.95 nucleus' size."""
    logits = torch.cat(captured)
    probs = torch.softmax(logits / SAMPLINGS["card"]["temperature"], dim=-1).sort(-1, descending=True).values
    size = (probs.cumsum(-1) < SAMPLINGS["card"]["top_p"]).sum(-1) + 1
    return {"logit_std": float(logits.std(-1).mean()), "nucleus_tokens": float(size.double().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=6, help="waves per measured run (x3 for one stream)")
    parser.add_argument(
        "--serial-limit",
        action="store_true",
        help="1 to 16 streams, each with the engine's serial limit and with every choice parallel",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    from cosmos_reason.demo.checkpoint import ensure_demo_model
    from cosmos_reason.engine.hf.loading import load_model

    loaded = load_model(str(ensure_demo_model("tiny")))
    timer = Timed()
    load_before = os.getloadavg()[0]
    engine_runs = asyncio.run(in_engine(loaded, timer, args.reps, args.serial_limit))
    report = {
        "benchmark": "benchmarks/choose.py",
        "model": "demo tiny (random weights)",
        "settings": {"max_tokens": 64, "samplings": {k: SAMPLINGS[k] for k in ("greedy", "card")}, "reps": args.reps},
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "serial_logits": sampler.SERIAL_LOGITS,
            "load_average_at_start": round(load_before, 2),
        },
        "engine": engine_runs,
        "alone": alone(timer.captured),
        "top_k_route": top_k_route(),
        "tiny_softmax": nucleus(timer.captured),
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    best: dict[tuple, dict] = {}
    for r in engine_runs:
        key = (r["workload"], r["streams"], r["threads"], r["sampling"])
        if key not in best or r["tokens_per_s"] > best[key]["tokens_per_s"]:
            best[key] = r
    print("| workload | streams | threads | greedy tok/s | card tok/s | card / greedy | choose ms greedy / card |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for (workload, streams, threads, sampling), g in best.items():
        if sampling != "greedy":
            continue
        c = best[(workload, streams, threads, "card")]
        ratio = c["tokens_per_s"] / g["tokens_per_s"]
        print(
            f"| {workload} | {streams} | {threads} | {g['tokens_per_s']:.1f} | {c['tokens_per_s']:.1f} | "
            f"{ratio:.2f}x | {g['choose_ms_per_call']:.2f} / {c['choose_ms_per_call']:.2f} |"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
