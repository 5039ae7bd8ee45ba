"""Structured-output benchmark: constrained vs unconstrained decoding on our server.

One server (`python -m cosmos_reason serve --model demo:SIZE`, the hf engine), N concurrent
streaming clients (openai.AsyncOpenAI), each sending --requests requests one after another,
the same prompts in every run. Workloads:

  free      no constraint; `ignore_eos`, so every request takes exactly --max-tokens tokens
  string    {"caption": string}: the random model rarely closes the string, so requests take
            about --max-tokens tokens, every one of them masked
  scene     a nested object with arrays and enums (tests/structured_cases.py): short answers,
            the grammar's structure changing at almost every token
  free_short  as free, with max_tokens = the scene answers' mean length, and the same
            max_tokens for scene: the fair peer of scene (the engine's cost per step grows with
            max_tokens, so a short answer under a long max_tokens is no peer of a short request)

Reported per run: completion tokens/s over the run's wall time (the servers' own usage
counts), requests/s, time to first content p50; the ratio constrained / free; and the
first-request compile cost: the time to first content of the first request with a new
schema (which also builds llguidance's view of the tokenizer), of a second new schema, and
of a repeat (cached), against an unconstrained request, each alone on the idle server.

Run: .venv/bin/python benchmarks/structured.py [--size tiny] [--clients 16] [--max-tokens 64]
Results: benchmarks/results/structured_tiny.json (for --size tiny; _greedy.json with --sampling greedy).
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

from cosmos_reason.server.process import ServerProcess

HERE = Path(__file__).resolve().parent
#: The constrained workload: a bounded scene (an enum, nested arrays), the shape the e2e proofs use.
SCENE = {
    "type": "object",
    "properties": {
        "weather": {"enum": ["sunny", "rain", "snow"]},
        "events": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "t": {"type": "integer", "minimum": 0, "maximum": 99},
                    "actors": {"type": "array", "maxItems": 2, "items": {"enum": ["car", "person"]}},
                },
                "required": ["t", "actors"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["weather", "events"],
    "additionalProperties": False,
}

MODEL = "bench"
WORKLOADS = ("free", "string", "scene", "free_short")
PROMPTS = [
    "Describe the scene as JSON.",
    "What happens next? Answer in JSON.",
    "List the events in JSON.",
    "Is it safe to cross? Reply in JSON.",
]
CAPTION = {"type": "object", "properties": {"caption": {"type": "string"}}, "required": ["caption"]}


#: The sampling every request asks for: {} leaves the model card's (what users get; --sampling card),
#: {"temperature": 0} is greedy (--sampling greedy). Set by main().
SAMPLING: dict = {}


def workload_fields(name: str) -> dict:
    if name == "free":
        return {"extra_body": {"ignore_eos": True}}
    schema = CAPTION if name == "string" else SCENE
    return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}}


async def one(client, prompt: str, max_tokens: int, fields: dict) -> tuple[float, int]:
    """(time to first content, completion tokens) of one streamed request."""
    start, first, tokens = time.perf_counter(), None, 0
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        stream=True,
        **SAMPLING,
        stream_options={"include_usage": True},
        **fields,
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return (first or time.perf_counter()) - start, tokens


async def run(url: str, name: str, clients: int, requests: int, max_tokens: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    fields = workload_fields("free" if name == "free_short" else name)
    results: list[tuple[float, int]] = []

    async def worker(c: int) -> None:
        for r in range(requests):
            results.append(await one(client, PROMPTS[(c + r) % len(PROMPTS)], max_tokens, fields))

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(clients)))
    wall = time.perf_counter() - start
    await client.close()
    tokens = sum(t for _, t in results)
    return {
        "workload": name,
        "clients": clients,
        "max_tokens": max_tokens,
        "requests": len(results),
        "completion_tokens": tokens,
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "requests_per_s": len(results) / wall,
        "ttft_p50_s": statistics.median(f for f, _ in results),
        "load_avg_1m": os.getloadavg()[0],
    }


async def compile_costs(url: str) -> dict:
    """Time to first content, alone on the idle server: free, first schema ever, another new
    schema, the first schema again (cached)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    other = {**SCENE, "properties": {**SCENE["properties"], "extra": {"type": "boolean"}}}
    fields = [
        ("free", {}),
        ("first_schema", workload_fields("scene")),
        ("new_schema", {"response_format": {"type": "json_schema", "json_schema": {"name": "other", "schema": other}}}),
        ("cached_schema", workload_fields("scene")),
    ]
    out = {}
    for label, extra in fields:  # the first and the new schema once (then they are cached), the others 3 times
        times = [
            (await one(client, PROMPTS[0], 4, extra))[0]
            for _ in range(1 if "_schema" in label and label != "cached_schema" else 3)
        ]
        out[f"{label}_ttft_s"] = statistics.median(times)
    await client.close()
    return out


def ratios(best: dict[str, dict]) -> dict:
    """Constrained / free. Scene answers end at their structure (often before max_tokens), so for
    scene requests/s says more than tokens/s (its requests carry fewer tokens than free_short's)."""
    return {
        "ratio_tokens_per_s": {
            "string / free": best["string"]["tokens_per_s"] / best["free"]["tokens_per_s"],
            "scene / free_short": best["scene"]["tokens_per_s"] / best["free_short"]["tokens_per_s"],
        },
        "ratio_requests_per_s": {
            "scene / free_short": best["scene"]["requests_per_s"] / best["free_short"]["requests_per_s"]
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2, help="per client, one after another")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="each workload this many times, interleaved; best kept")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--sampling",
        choices=["card", "greedy"],
        default="card",
        help="card: the model card's defaults, as users get them; greedy: temperature 0",
    )
    args = parser.parse_args()
    SAMPLING.update({"temperature": 0} if args.sampling == "greedy" else {})
    suffix = "" if args.sampling == "card" else "_greedy"
    output = args.output or HERE / "results" / f"structured_{args.size}{suffix}.json"
    server = ServerProcess(["--model", f"demo:{args.size}", "--served-model-name", MODEL])
    try:
        server.wait_ready()
        url = f"{server.url}/v1"
        compile_times = asyncio.run(compile_costs(url))
        asyncio.run(run(url, "free", 2, 1, 8))  # warm up the batch shapes
        probe = asyncio.run(run(url, "scene", args.clients, 1, args.max_tokens))
        short = max(1, round(probe["completion_tokens"] / probe["requests"]))
        lengths = {"free": args.max_tokens, "string": args.max_tokens, "scene": short, "free_short": short}
        runs = [
            asyncio.run(run(url, name, args.clients, args.requests, lengths[name]))
            for _ in range(args.rounds)
            for name in WORKLOADS
        ]
    finally:
        server.stop()
    best = {
        name: max((r for r in runs if r["workload"] == name), key=lambda r: r["tokens_per_s"]) for name in WORKLOADS
    }
    report = {
        "benchmark": "benchmarks/structured.py",
        "command": " ".join(sys.argv[1:]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {
            "size": args.size,
            "clients": args.clients,
            "requests_per_client": args.requests,
            "max_tokens": args.max_tokens,
            "sampling": "the model card's defaults" if args.sampling == "card" else "greedy",
            "rounds": args.rounds,
        },
        "compile": compile_times,
        "runs": runs,
        **ratios(best),
        "note": "best round of each workload; the machine is shared (load_avg_1m per run)",
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {
                "compile": compile_times,
                "ratios": ratios(best),
                "best": {k: round(v["tokens_per_s"], 1) for k, v in best.items()},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
