"""Serving benchmark: many concurrent streaming clients against an OpenAI-compatible server.

For each checkpoint size and each workload (text-only, text + one 640x480 image), in one run
and on the same checkpoint:

  ours          `python -m cosmos_reason serve --model DIR` (the hf engine, continuous batching)
  transformers  `transformers serve DIR` (the peer; for Qwen2.5-VL and Qwen3-VL it runs
                model.generate one request at a time: its continuous batching is for text-only LLMs)
  static        the same prompts (one per client) as one left-padded batch through plain
                `model.generate` in this process, the processor's work included: no HTTP, no
                queueing, every row the same length: the ceiling for this engine

Clients: N concurrent streaming clients (openai.AsyncOpenAI), each sending its requests
one after another (--clients 1,16 runs each count). Every request asks for exactly
--max-tokens tokens: our server through `ignore_eos`, transformers serve through a
`generation_config` with min_new_tokens = max_new_tokens, `generate` through min_new_tokens.
Sampling (--samplings): `card`, what every request gets by default (the model card's
temperature 0.6, top_p 0.95, repetition penalty 1.05), is the main workload; `greedy`
(temperature 0, the card's repetition penalty) runs beside it. Token counts come from the
servers' own usage numbers, and tokens/s uses the counted tokens.

Reported per run: completion tokens/s and requests/s over the measured wall time, time to
first (non-empty) content and whole-request latency p50/p99. The static batch's TTFT is its
preprocessing and prefill (all rows get their first token together) and its latency the whole
batch. Each run also records how much of the machine other processes used meanwhile (on a
shared 2-core machine a neighbour changes everything); --wait-idle waits for a quiet moment
before each run, --profile DIR records py-spy profiles of the servers.

Checkpoints (--sizes): the demo checkpoints with random weights, `tiny` and `0.5b` (Reason1's
Qwen2.5-VL shapes), `7b`, and `reason2` (the tiny Reason2 demo, Qwen3-VL: `demo:reason2` on the
command line); all three systems take each of them.

Run: .venv/bin/python benchmarks/serve.py [--sizes tiny,0.5b] [--clients 1,16] [--max-tokens 64]
     .venv/bin/python benchmarks/serve.py --sizes reason2 --output benchmarks/results/serve_reason2.json
     .venv/bin/python benchmarks/serve.py --url http://host:8000/v1 --model NAME   (clients only)
Needs the `bench` extra (openai, transformers[serving]; py-spy for --profile).
Results: benchmarks/results/serve.json (every run, the ratios, and the table for the README).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from cosmos_reason.server.process import ServerProcess, free_port

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serve.json"

REPETITION_PENALTY = 1.05
SAMPLINGS = {  # the model card's default, and greedy beside it
    "card": {"temperature": 0.6, "top_p": 0.95, "repetition_penalty": REPETITION_PENALTY},
    "greedy": {"temperature": 0.0, "repetition_penalty": REPETITION_PENALTY},
}
QUESTIONS = [
    "What is happening in this scene? Describe the motion of every object step by step.",
    "Is it safe for the robot to move forward? Explain the physics involved.",
    "What will happen next if the ball keeps rolling toward the edge of the table?",
    "Describe the spatial relationship between the objects and predict their trajectories.",
]


# ---- workload -------------------------------------------------------------------------------


def scene_image(width: int = 640, height: int = 480) -> bytes:
    """A deterministic synthetic scene (gradient floor, a table, a ball), as JPEG bytes."""
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    pixels = np.concatenate([0.4 + 0.5 * x + 0 * y, 0.3 + 0.4 * y + 0 * x, 0.6 - 0.3 * x * y], axis=2) * 255
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 260, 520, 290), fill=(110, 70, 40))
    draw.ellipse((400, 200, 460, 260), fill=(200, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def messages(workload: str, i: int, image_url: str) -> list[dict]:
    text = f"Request {i}. {QUESTIONS[i % len(QUESTIONS)]}"
    if workload == "text":
        return [{"role": "user", "content": text}]
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": text}],
        }
    ]


def generate_kwargs(sampling: str) -> dict:
    """The settings as `generate` takes them (the checkpoint's generation_config overridden)."""
    settings = SAMPLINGS[sampling]
    if settings["temperature"] == 0:
        return {
            "do_sample": False,
            "repetition_penalty": settings["repetition_penalty"],
            "top_k": None,
            "top_p": None,
            "temperature": None,
        }
    return {"do_sample": True, "top_k": None, **settings}


def request_extras(system: str, max_tokens: int, sampling: str) -> dict:
    """How each server is told: the sampling settings, exactly max_tokens tokens."""
    settings = SAMPLINGS[sampling]
    if system == "ours":
        return {
            "temperature": settings["temperature"],
            **({"top_p": settings["top_p"]} if "top_p" in settings else {}),
            "extra_body": {"ignore_eos": True, "repetition_penalty": settings["repetition_penalty"]},
        }
    gen = {**generate_kwargs(sampling), "max_new_tokens": max_tokens, "min_new_tokens": max_tokens}
    gen = {k: v for k, v in gen.items() if v is not None}
    return {"temperature": settings["temperature"], "extra_body": {"generation_config": json.dumps(gen)}}


# ---- measuring ------------------------------------------------------------------------------


@dataclass
class RequestResult:
    ttft: float
    latency: float
    tokens: int


@dataclass
class Run:
    system: str
    size: str
    workload: str
    clients: int
    sampling: str
    requests: int
    completion_tokens: int
    wall_s: float
    tokens_per_s: float
    requests_per_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    latency_p50_s: float
    latency_p99_s: float
    prompt_tokens: int | None = None
    load_avg_1m: float | None = None  # the machine's load when the run ended (others share it)
    others_cpu: float | None = None  # share of the machine's CPU time used by other processes during the run
    cpu_cores: dict | None = None  # average cores used during the run: server, client (this process)
    repeat: int = 0
    note: str = ""
    error: str | None = None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarise(
    system: str,
    size: str,
    workload: str,
    clients: int,
    sampling: str,
    results: list[RequestResult],
    wall: float,
    prompt_tokens: int | None = None,
    note: str = "",
) -> Run:
    tokens = sum(r.tokens for r in results)
    return Run(
        system,
        size,
        workload,
        clients,
        sampling,
        len(results),
        tokens,
        wall,
        tokens / wall,
        len(results) / wall,
        percentile([r.ttft for r in results], 50),
        percentile([r.ttft for r in results], 99),
        percentile([r.latency for r in results], 50),
        percentile([r.latency for r in results], 99),
        prompt_tokens=prompt_tokens,
        load_avg_1m=round(os.getloadavg()[0], 2),
        note=note,
    )


async def one_request(
    client, model: str, msgs: list[dict], max_tokens: int, extras: dict, usage_option: bool
) -> tuple[RequestResult, int | None]:
    start = time.perf_counter()
    first = None
    tokens = chunks = 0
    prompt = None
    kwargs = dict(extras)
    if usage_option:
        kwargs["stream_options"] = {"include_usage": True}
    stream = await client.chat.completions.create(
        model=model, messages=msgs, max_tokens=max_tokens, stream=True, **kwargs
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            if first is None:
                first = time.perf_counter()
        if chunk.usage is not None:
            tokens, prompt = chunk.usage.completion_tokens, chunk.usage.prompt_tokens
    end = time.perf_counter()
    return RequestResult((first or end) - start, end - start, tokens or chunks), prompt


async def drive(
    url: str,
    model: str,
    system: str,
    workload: str,
    clients: int,
    per_client: int,
    max_tokens: int,
    image_url: str,
    sampling: str,
) -> tuple[list[RequestResult], float, int | None]:
    from openai import AsyncOpenAI

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=clients + 4), timeout=3600)
    client = AsyncOpenAI(
        base_url=url, api_key=os.environ.get("BENCH_API_KEY", "bench"), max_retries=0, http_client=http
    )
    extras = request_extras(system, max_tokens, sampling)
    results: list[RequestResult] = []
    prompts: list[int] = []

    async def worker(c: int) -> None:
        for r in range(per_client):
            res, prompt = await one_request(
                client,
                model,
                messages(workload, c * per_client + r, image_url),
                max_tokens,
                extras,
                usage_option=system == "ours",
            )
            results.append(res)
            if prompt:
                prompts.append(prompt)

    start = time.perf_counter()
    await asyncio.gather(*[worker(c) for c in range(clients)])
    wall = time.perf_counter() - start
    await client.close()
    await http.aclose()
    return results, wall, (max(prompts) if prompts else None)


async def warm_up(url: str, model: str, system: str, image_url: str, workloads: list[str], clients: int) -> None:
    """Per workload, one short request and then one wave of `clients` short requests at once, so
    that first-call costs (kernels, the processor, the first batch of that size) are not measured:
    the first wave of 16 images through a fresh 0.5 B server took about 3 s longer than the next,
    whichever sampling it used, so the sampling measured first looked slower."""
    for workload in workloads:
        await drive(url, model, system, workload, 1, 1, 4, image_url, "greedy")
        if clients > 1:
            await drive(url, model, system, workload, clients, 1, 4, image_url, "greedy")


class CpuMeter:
    """How much of the machine other processes used while a run was measured (this benchmark
    process and the server under test excluded): this machine may be shared, and on 2 cores a
    neighbour's work changes the numbers a lot."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def __enter__(self) -> CpuMeter:
        self.start = (time.monotonic(), _busy_seconds(), *(_process_seconds([pid]) for pid in self.pids))
        self.others: float | None = None
        self.cores: dict | None = None
        return self

    def __exit__(self, *exc) -> None:
        end = (time.monotonic(), _busy_seconds(), *(_process_seconds([pid]) for pid in self.pids))
        wall, busy, *own = (b - a for a, b in zip(self.start, end, strict=False))
        if wall > 0:
            self.others = round(max(0.0, busy - sum(own)) / (wall * (os.cpu_count() or 1)), 3)
            names = ["client", "server"] if len(own) == 2 else ["process"]
            self.cores = {name: round(seconds / wall, 2) for name, seconds in zip(names, own, strict=False)}


def _busy_seconds() -> float:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _process_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def wait_for_idle(max_wait: float, pids: list[int]) -> None:
    """Wait (up to max_wait seconds) for a 2-second window in which others use < 15% of the machine."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        with CpuMeter(pids) as meter:
            time.sleep(2)
        if (meter.others or 0) < 0.15:
            return
    print(f"  (machine still busy after {max_wait:.0f}s; measuring anyway)", flush=True)


class Profiler:
    """py-spy on the server during a measured run (--profile DIR): raw stacks, and a summary of
    where each busy thread spent its samples."""

    def __init__(self, folder: Path | None, pid: int, name: str) -> None:
        self.proc = None
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.raw, self.summary = folder / f"{name}.raw", folder / f"{name}.txt"
        exe = Path(sys.executable).with_name("py-spy")
        self.proc = subprocess.Popen(
            [str(exe), "record", "-p", str(pid), "-r", "100", "-f", "raw", "--threads", "-o", str(self.raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.summary.write_text(summarise_profile(self.raw))
        print(f"  profile: {self.summary}", flush=True)


def summarise_profile(raw: Path, top: int = 25) -> str:
    """Per thread: its share of the samples, then the functions (inclusive) it spent them in."""
    from collections import Counter

    threads: dict[str, Counter] = {}
    totals: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = frames[0]
        totals[thread] += int(count)
        inclusive = threads.setdefault(thread, Counter())
        for frame in set(frames[1:]):
            inclusive[frame] += int(count)
    everything = sum(totals.values()) or 1
    out = []
    for thread, samples in totals.most_common():
        out.append(f"{thread}: {samples / everything:.0%} of samples")
        for frame, n in threads[thread].most_common(top):
            out.append(f"  {n / samples:6.1%}  {frame}")
    return "\n".join(out) + "\n"


# ---- servers --------------------------------------------------------------------------------


def start_ours(checkpoint: Path, clients: int, args) -> tuple[ServerProcess, str]:
    flags = [
        "--model",
        str(checkpoint),
        "--max-num-seqs",
        str(max(clients, 32)),
        "--served-model-name",
        "bench",
        "--log-level",
        "warning",
        *args.ours_args,
    ]
    return ServerProcess(flags), "bench"


def start_transformers(checkpoint: Path, args) -> tuple[ServerProcess, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("transformers")
    command = [str(exe), "serve", str(checkpoint), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return ServerProcess(command=command, port=port, log_name=f"bench-transformers-{port}.log"), str(checkpoint)


def run_server(system: str, checkpoint: Path, size: str, args, image_url: str) -> list[Run]:
    server, model = (
        start_ours(checkpoint, max(args.clients), args) if system == "ours" else start_transformers(checkpoint, args)
    )
    runs = []
    try:
        server.wait_ready(600)  # a 7B checkpoint takes minutes to load
        asyncio.run(warm_up(server.url + "/v1", model, system, image_url, args.workloads, max(args.clients)))
        per_client = args.requests_per_client if system == "ours" else args.peer_requests_per_client
        repeats = args.repeats if system == "ours" else args.peer_repeats
        pids = [os.getpid(), server.proc.pid]
        for workload, sampling, clients in cases(args):
            for repeat in range(repeats):
                try:
                    wait_for_idle(args.wait_idle, pids)
                    profiler = Profiler(
                        args.profile if repeat == 0 else None,
                        server.proc.pid,
                        f"{system}-{size}-{workload}-{sampling}-{clients}",
                    )
                    with CpuMeter(pids) as meter:
                        results, wall, prompt = asyncio.run(
                            drive(
                                server.url + "/v1",
                                model,
                                system,
                                workload,
                                clients,
                                per_client,
                                args.max_tokens,
                                image_url,
                                sampling,
                            )
                        )
                    profiler.stop()
                    runs.append(summarise(system, size, workload, clients, sampling, results, wall, prompt))
                    runs[-1].others_cpu, runs[-1].cpu_cores, runs[-1].repeat = meter.others, meter.cores, repeat
                except Exception as exc:  # a mode that fails is reported as failed, not hidden
                    runs.append(failed(system, size, workload, clients, sampling, exc))
                print_run(runs[-1])
    except Exception as exc:
        for workload, sampling, clients in cases(args):
            runs.append(failed(system, size, workload, clients, sampling, exc))
            print_run(runs[-1])
    finally:
        server.stop(60)
    return runs


def cases(args) -> list[tuple[str, str, int]]:
    """(workload, sampling, clients) in the order they run."""
    return [(w, s, c) for w in args.workloads for s in args.samplings for c in args.clients]


def failed(system: str, size: str, workload: str, clients: int, sampling: str, exc: Exception) -> Run:
    nan = float("nan")
    return Run(
        system,
        size,
        workload,
        clients,
        sampling,
        0,
        0,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        error=f"{type(exc).__name__}: {exc}"[:500],
    )


# ---- the static-batch ceiling ---------------------------------------------------------------


class _FirstTokenClock:
    """A generate streamer that notes when the first generated tokens arrive."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:  # call 1 is the prompt
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def run_static(checkpoint: Path, size: str, args, image_bytes: bytes) -> list[Run]:
    import torch

    from cosmos_reason.engine.hf.inputs import prompt_text
    from cosmos_reason.engine.hf.loading import load_model

    loaded = load_model(str(checkpoint))
    model, processor = loaded.model, loaded.processor
    processor.tokenizer.padding_side = "left"
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    runs = []
    from cosmos_reason.engine.base import Conversation, ImageInput, Text, Turn

    for workload, sampling, clients in cases(args):
        texts, images = [], []
        for i in range(clients):
            question = messages(workload, i, "")[0]["content"]
            question = question if isinstance(question, str) else question[1]["text"]
            parts = ((ImageInput(image),) if workload == "image" else ()) + (Text(question),)
            texts.append(prompt_text(processor, Conversation((Turn("user", parts),))))
            if workload == "image":
                images.append(image)
        gen = generate_kwargs(sampling)

        def prepare(count: int, texts=texts, images=images):
            inputs = processor(text=texts[:count], images=images[:count] or None, return_tensors="pt", padding=True).to(
                loaded.device
            )
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(loaded.dtype)
            return inputs

        with torch.inference_mode():
            model.generate(**prepare(min(2, clients)), max_new_tokens=2, min_new_tokens=2, **gen)  # warm-up
        for repeat in range(args.repeats):
            wait_for_idle(args.wait_idle, [os.getpid()])
            with torch.inference_mode(), CpuMeter([os.getpid()]) as meter:
                # Timed like the server's work: the processor (image preprocessing) included.
                start = time.perf_counter()
                inputs = prepare(len(texts))
                preprocess = time.perf_counter() - start
                clock = _FirstTokenClock()
                out = model.generate(
                    **inputs, max_new_tokens=args.max_tokens, min_new_tokens=args.max_tokens, streamer=clock, **gen
                )
                if model.device.type == "cuda":
                    torch.cuda.synchronize()
                wall = time.perf_counter() - start
            new = int(out.shape[1] - inputs["input_ids"].shape[1])
            ttft = (clock.first or start + wall) - start
            results = [RequestResult(ttft, wall, new) for _ in range(clients)]
            prompt = int(inputs["attention_mask"].sum(dim=1).max())
            runs.append(
                summarise(
                    "static",
                    size,
                    workload,
                    clients,
                    sampling,
                    results,
                    wall,
                    prompt,
                    note=f"one left-padded batch through model.generate; processor {preprocess:.2f}s "
                    f"of the wall time ({len(results) * new / (wall - preprocess):.1f} tokens/s "
                    f"for generate alone)",
                )
            )
            runs[-1].others_cpu, runs[-1].cpu_cores, runs[-1].repeat = meter.others, meter.cores, repeat
            print_run(runs[-1])
    loaded = model = None  # free the weights before the servers load their own copies
    gc.collect()
    return runs


# ---- reporting ------------------------------------------------------------------------------


def print_run(run: Run) -> None:
    head = f"  {run.size:>5} {run.workload:<6} {run.sampling:<6} x{run.clients:<3} {run.system:<13}"
    if run.error:
        print(f"{head} FAILED: {run.error}", flush=True)
        return
    print(
        f"{head} {run.tokens_per_s:8.1f} tok/s "
        f"{run.requests_per_s:6.2f} req/s  ttft p50 {run.ttft_p50_s:6.2f}s p99 {run.ttft_p99_s:6.2f}s  "
        f"latency p50 {run.latency_p50_s:6.2f}s p99 {run.latency_p99_s:6.2f}s  "
        f"({run.requests} req, {run.completion_tokens} tok, {run.wall_s:.1f}s, cores used {run.cpu_cores}, "
        f"others' CPU {_pct(run.others_cpu)})",
        flush=True,
    )


SYSTEM_ORDER = ("static", "ours", "transformers")


def _case(run: Run) -> tuple:
    return (run.size, run.workload, run.sampling, run.clients)


def best_runs(runs: list[Run]) -> list[Run]:
    """Per model, workload, sampling, clients and system, the repeat with the most tokens/s (a
    neighbour's work only ever slows a run down), in run order, then static, ours, transformers."""
    best: dict[tuple, Run] = {}
    for run in runs:
        key = (*_case(run), run.system)
        held = best.get(key)
        if (
            held is None
            or (held.error and not run.error)
            or (not run.error and not held.error and run.tokens_per_s > held.tokens_per_s)
        ):
            best[key] = run
    order = list(dict.fromkeys(_case(r) for r in runs))
    return sorted(
        best.values(),
        key=lambda r: (order.index(_case(r)), SYSTEM_ORDER.index(r.system) if r.system in SYSTEM_ORDER else 9),
    )


def ratios(runs: list[Run]) -> list[dict]:
    """Per case: ours against the static batch and transformers serve with the same settings, and
    (for the card's sampling) ours sampled against ours greedy."""
    out = []
    by = {(*_case(r), r.system): r for r in runs}
    for case in dict.fromkeys(_case(r) for r in runs):
        ours = by.get((*case, "ours"))
        if ours is None or ours.error:
            continue
        size, workload, sampling, clients = case
        row = {"size": size, "workload": workload, "sampling": sampling, "clients": clients}
        for other in ("static", "transformers"):
            ref = by.get((*case, other))
            row[f"ours_vs_{other}"] = ours.tokens_per_s / ref.tokens_per_s if ref and not ref.error else None
        if sampling != "greedy":
            greedy = by.get((size, workload, "greedy", clients, "ours"))
            row["ours_vs_ours_greedy"] = (
                ours.tokens_per_s / greedy.tokens_per_s if greedy and not greedy.error else None
            )
        out.append(row)
    return out


def markdown_table(runs: list[Run]) -> str:
    lines = [
        "| model | workload | sampling | clients | system | tokens/s | req/s | TTFT p50 / p99 (s) "
        "| latency p50 / p99 (s) | others' CPU |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        head = f"| {r.size} | {r.workload} | {r.sampling} | {r.clients} | {r.system} |"
        if r.error:
            lines.append(f"{head} failed: {r.error.splitlines()[0][:80]} | | | | |")
            continue
        lines.append(
            f"{head} {r.tokens_per_s:.1f} | {r.requests_per_s:.2f} | "
            f"{r.ttft_p50_s:.2f} / {r.ttft_p99_s:.2f} | {r.latency_p50_s:.2f} / {r.latency_p99_s:.2f} "
            f"| {_pct(r.others_cpu)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        default="tiny,0.5b",
        help="demo checkpoints: tiny, 0.5b, 7b (Reason1 shapes), reason2 (the tiny Reason2 demo)",
    )
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint folder instead of the demo sizes")
    parser.add_argument("--systems", default="static,ours,transformers")
    parser.add_argument("--workloads", default="text,image")
    parser.add_argument("--clients", default="1,16", help="concurrent clients, comma-separated: each count is a run")
    parser.add_argument(
        "--samplings",
        default="card,greedy",
        help="card (the model card's default: temperature 0.6, top_p 0.95, repetition penalty "
        "1.05) and/or greedy (temperature 0, same penalty)",
    )
    parser.add_argument("--requests-per-client", type=int, default=2, help="for our server")
    parser.add_argument(
        "--peer-requests-per-client",
        type=int,
        default=1,
        help="for transformers serve, which answers one request at a time",
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="measured runs of ours and of the static batch per workload; the table shows the best",
    )
    parser.add_argument("--peer-repeats", type=int, default=1, help="measured runs of transformers serve")
    parser.add_argument("--image-size", default="640x480", help="WIDTHxHEIGHT of the image workload's picture")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="before each measured run, wait up to this many seconds for other processes to "
        "leave the machine (mostly) idle",
    )
    parser.add_argument("--ours-args", default="", help="extra flags for `cosmos_reason serve`, space-separated")
    parser.add_argument("--url", help="only drive clients against this server (its /v1 URL)")
    parser.add_argument("--model", default=None, help="model name to send with --url")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record py-spy profiles of the servers during the measured runs into this folder",
    )
    args = parser.parse_args()
    args.workloads = args.workloads.split(",")
    args.clients = [int(c) for c in str(args.clients).split(",")]
    args.samplings = args.samplings.split(",")
    unknown = set(args.samplings) - set(SAMPLINGS)
    if unknown:
        parser.error(f"--samplings: unknown {sorted(unknown)}; choose from {sorted(SAMPLINGS)}")
    args.ours_args = args.ours_args.split()
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    image_bytes = scene_image(width, height)
    image_url = "data:image/jpeg;base64," + base64.b64encode(image_bytes).decode()

    if args.url:
        for workload, sampling, clients in cases(args):
            results, wall, prompt = asyncio.run(
                drive(
                    args.url,
                    args.model,
                    "ours",
                    workload,
                    clients,
                    args.requests_per_client,
                    args.max_tokens,
                    image_url,
                    sampling,
                )
            )
            print_run(summarise("url", "-", workload, clients, sampling, results, wall, prompt))
        return 0

    from cosmos_reason.demo.checkpoint import ensure_demo_model

    started = time.perf_counter()
    runs: list[Run] = []
    sizes = [s.removeprefix("demo:") for s in args.sizes.split(",")]  # `demo:reason2` as the CLI spells it
    targets = [("custom", args.checkpoint)] if args.checkpoint else [(s, None) for s in sizes]
    for size, checkpoint in targets:
        checkpoint = checkpoint or ensure_demo_model(size)
        print(f"{size}: {checkpoint}", flush=True)
        for system in args.systems.split(","):
            if system == "static":
                runs += run_static(checkpoint, size, args, image_bytes)
            else:
                runs += run_server(system, checkpoint, size, args, image_url)
    total = time.perf_counter() - started

    best = best_runs(runs)
    table = markdown_table(best)
    print("\n" + table + "\n")
    for row in ratios(best):
        print(
            f"  {row['size']:>5} {row['workload']:<6} {row['sampling']:<6} x{row['clients']:<3} ours/static "
            f"{_fmt(row['ours_vs_static'])}  ours/transformers {_fmt(row['ours_vs_transformers'])}"
            + (f"  sampled/greedy {_fmt(row.get('ours_vs_ours_greedy'))}" if row["sampling"] != "greedy" else "")
        )
    import torch
    import transformers

    report = {
        "benchmark": "benchmarks/serve.py",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "settings": {
            "clients": args.clients,
            "max_tokens": args.max_tokens,
            "requests_per_client": {"ours": args.requests_per_client, "transformers": args.peer_requests_per_client},
            "samplings": {name: SAMPLINGS[name] for name in args.samplings},
            "output_length": "fixed: every request asks for exactly max_tokens",
            "image": f"one {args.image_size} JPEG per request",
        },
        "total_seconds": total,
        "runs": [{k: _clean(v) for k, v in asdict(r).items()} for r in runs],
        "best": [{"size": r.size, "workload": r.workload, "system": r.system, "repeat": r.repeat} for r in best],
        "ratios": ratios(best),
        "table_markdown": table,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    print(f"wrote {args.output} ({total:.0f}s)")
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value  # a failed run's NaN -> null


def _json_default(value: Any) -> Any:
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
