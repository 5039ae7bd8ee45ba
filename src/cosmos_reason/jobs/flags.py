"""Flags that several job commands share (annotate, critic, run-batch, eval): where to run."""

from __future__ import annotations

import argparse


def target_options(p: argparse.ArgumentParser, *, ray: bool = False) -> None:
    g = p.add_argument_group("where to run (one of --server or --model)")
    g.add_argument(
        "--server",
        metavar="URL",
        help="a running cosmos-reason (or OpenAI-compatible) server, e.g. http://localhost:8000",
    )
    g.add_argument("--api-key", help="the server's API key (default: $COSMOS_REASON_API_KEY)")
    g.add_argument(
        "--model", help="load this model in this process instead (as `serve --model`): folder, hub id or demo"
    )
    g.add_argument("--dtype", help="in-process: as serve --dtype")
    g.add_argument("--device", help="in-process: as serve --device")
    g.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=4,
        help="requests in flight" + (" (with --ray: per actor)" if ray else "") + " (default 4)",
    )
    g.add_argument("--retries", type=int, default=6, help="tries per request for transient failures (default 6)")
    g.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar: a log line every 10 s")
