"""What sampling costs against greedy, in the engine itself (no HTTP): the hf engine in this
process, N concurrent requests of exactly --max-tokens tokens (`ignore_eos`), text prompts.

Settings compared (see SAMPLINGS in benchmarks/serve.py): `card`, what every request gets by
default (temperature 0.6, top_p 0.95, repetition penalty 1.05), and `greedy` (temperature 0,
the same penalty). Runs alternate greedy/card/card/greedy (ABBA) so that a neighbour's load
falls on both; the table keeps each setting's best run (load only ever slows a run down).
Also reported: the mean time per call of the token choice (`choose_tokens`), which is where
the two settings differ, and the process's CPU time per token (user + system, both threads):
on a machine other work keeps busy, wall time mostly measures waiting for a core, while CPU
time per token still measures the work each setting does (`cpu_card_vs_greedy`).

Run: .venv/bin/python benchmarks/sampling.py [--sizes tiny,0.5b] [--streams 1,16] [--blocks 2]
Results: benchmarks/results/sampling.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "sampling.json"
sys.path.insert(0, str(HERE))

from serve import SAMPLINGS  # noqa: E402  (one definition of the settings for every benchmark)


class ChoiceTimer:
    """Wraps the running batch's choose_tokens to time each call."""

    def __init__(self) -> None:
        import cosmos_reason.engine.hf.batch as batch

        self.batch, self.original = batch, batch.choose_tokens
        self.seconds, self.calls = 0.0, 0
        batch.choose_tokens = self._timed

    def _timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def take(self) -> float:
        mean = self.seconds / self.calls if self.calls else float("nan")
        self.seconds, self.calls = 0.0, 0
        return mean


async def one(engine, i: int, params) -> int:
    from cosmos_reason.engine.base import Conversation, GenerationRequest, Text, Turn

    question = Conversation((Turn("user", (Text(f"Request {i}. What happens when the ball rolls off the table?"),)),))
    tokens = 0
    async for delta in engine.generate(GenerationRequest(f"bench-{i}-{time.monotonic_ns()}", question, params)):
        tokens = delta.completion_tokens
    return tokens


async def measure(loaded, streams: list[int], blocks: int, max_tokens: int, size: str) -> list[dict]:
    from cosmos_reason.engine.base import SamplingParams
    from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine

    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=max(32, max(streams)), max_queued_requests=256))
    timer = ChoiceTimer()
    params = {
        name: SamplingParams(
            max_tokens=max_tokens,
            ignore_eos=True,
            top_p=s.get("top_p", 1.0),
            temperature=s["temperature"],
            repetition_penalty=s["repetition_penalty"],
        )
        for name, s in SAMPLINGS.items()
    }
    runs = []
    try:
        await one(engine, 0, params["card"])  # warm-up
        timer.take()
        for count in streams:
            for block in range(blocks):
                for name in ("greedy", "card", "card", "greedy"):
                    start, cpu = time.perf_counter(), time.process_time()
                    tokens = sum(await asyncio.gather(*[one(engine, i, params[name]) for i in range(count)]))
                    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                    runs.append(
                        {
                            "size": size,
                            "streams": count,
                            "sampling": name,
                            "block": block,
                            "tokens": tokens,
                            "wall_s": wall,
                            "tokens_per_s": tokens / wall,
                            "choose_ms_per_call": timer.take() * 1e3,
                            "cpu_ms_per_token": cpu / tokens * 1e3,
                            "load_avg_1m": os.getloadavg()[0],
                        }
                    )
                    r = runs[-1]
                    print(
                        f"  {size:>5} x{count:<3} {name:<6} {r['tokens_per_s']:8.1f} tok/s  "
                        f"choose {r['choose_ms_per_call']:6.2f} ms/call  cpu {r['cpu_ms_per_token']:6.2f} ms/token  "
                        f"load {r['load_avg_1m']:.1f}",
                        flush=True,
                    )
    finally:
        await engine.shutdown()
    return runs


def table(runs: list[dict]) -> tuple[str, list[dict]]:
    best: dict[tuple, dict] = {}
    cpu: dict[tuple, float] = {}  # the least CPU time per token of each setting's runs
    for r in runs:
        key = (r["size"], r["streams"], r["sampling"])
        if key not in best or r["tokens_per_s"] > best[key]["tokens_per_s"]:
            best[key] = r
        cpu[key] = min(cpu.get(key, math.inf), r["cpu_ms_per_token"])
    lines = [
        "| model | streams | greedy tok/s | card tok/s | card / greedy | choose ms/call greedy / card "
        "| CPU ms/token greedy / card | card / greedy by CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = []
    for size, count in dict.fromkeys((r["size"], r["streams"]) for r in runs):
        g, c = best[(size, count, "greedy")], best[(size, count, "card")]
        ratio = c["tokens_per_s"] / g["tokens_per_s"]
        cpu_g, cpu_c = cpu[(size, count, "greedy")], cpu[(size, count, "card")]
        rows.append(
            {
                "size": size,
                "streams": count,
                "greedy_tokens_per_s": g["tokens_per_s"],
                "card_tokens_per_s": c["tokens_per_s"],
                "card_vs_greedy": ratio,
                "cpu_ms_per_token": {"greedy": cpu_g, "card": cpu_c},
                "cpu_card_vs_greedy": cpu_g / cpu_c,
            }
        )
        lines.append(
            f"| {size} | {count} | {g['tokens_per_s']:.1f} | {c['tokens_per_s']:.1f} | {ratio:.2f}x | "
            f"{g['choose_ms_per_call']:.2f} / {c['choose_ms_per_call']:.2f} | {cpu_g:.2f} / {cpu_c:.2f} | "
            f"{cpu_g / cpu_c:.2f}x |"
        )
    return "\n".join(lines), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,0.5b", help="demo checkpoint sizes")
    parser.add_argument("--streams", default="1,16", help="concurrent requests, comma-separated")
    parser.add_argument("--blocks", type=int, default=2, help="ABBA blocks per stream count")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    streams = [int(s) for s in args.streams.split(",")]

    import torch

    from cosmos_reason.demo.checkpoint import ensure_demo_model
    from cosmos_reason.engine.hf.loading import load_model

    runs = []
    for size in args.sizes.split(","):
        loaded = load_model(str(ensure_demo_model(size)))
        runs += asyncio.run(measure(loaded, streams, args.blocks, args.max_tokens, size))
        del loaded
    text, rows = table(runs)
    print("\n" + text + "\n")
    report = {
        "benchmark": "benchmarks/sampling.py",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "settings": {"samplings": SAMPLINGS, "max_tokens": args.max_tokens, "streams": streams, "blocks": args.blocks},
        "runs": runs,
        "best": rows,
        "table_markdown": text,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
