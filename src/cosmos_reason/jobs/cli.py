"""Command lines of the jobs: annotate, critic, run-batch (options: docs/jobs.md), eval (docs/eval.md),
and frames (docs/frames.md).

``register(subparsers)`` adds them to ``cosmos-reason``; ``python -m cosmos_reason.jobs``
runs them alone (without importing the server, so a client-only run starts fast).
Exit codes: 0 every item answered, 1 the input or target cannot be used, 2 bad arguments,
3 rerun needed, 4 some lines are errors, 130 interrupted (docs/jobs.md says when).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..commandline import add_command, json_object
from .commands import CRITIC_OPTIONS, REQUEST_OPTIONS, annotate_command, batch_command, critic_command
from .flags import target_options


def register(subparsers: argparse._SubParsersAction) -> None:
    annotate = add_command(
        subparsers,
        "annotate",
        help="annotate a folder, glob or manifest of images/videos into JSONL (resumable)",
        description="Annotate images and videos: one JSON line per item, resumable after any crash.",
        example="cosmos-reason annotate ./clips --task caption --out captions.jsonl --server http://localhost:8000",
    )
    annotate.add_argument(
        "input",
        metavar="INPUT",
        help="a folder (recursive), a glob, a manifest (.jsonl/.csv of paths or URLs), a file or URL",
    )
    annotate.add_argument("--task", help="a task recipe (GET /v1/tasks: caption, critic, plausibility, ...)")
    annotate.add_argument(
        "--recipe",
        metavar="FILE",
        help="a task recipe file (YAML, the cookbook's prompts/ shape; docs/reasoning.md#task-recipes), "
        "sent with each request: no server-side copy needed",
    )
    annotate.add_argument("--prompt", help="the question to ask (with --task: replaces the task's default question)")
    annotate.add_argument("--out", "-o", required=True, help="results JSONL; rerun the same command to resume")
    annotate.add_argument(
        "--manifest", action="store_true", default=None, help="read INPUT as a manifest whatever its extension"
    )
    annotate.add_argument(
        "--retry-errors",
        action="store_true",
        help="also redo items whose line is a permanent error (their old lines are removed)",
    )
    annotate.add_argument(
        "--redo",
        action="store_true",
        help="items whose lines in --out were asked with other options (prompt, task, options): "
        "replace those lines instead of refusing to run",
    )
    annotate.add_argument("--limit", type=int, help="only the first N items")
    annotate.add_argument(
        "--schema",
        type=schema_file,
        metavar="FILE",
        help="a JSON schema file: every answer is constrained to it (structured output) and "
        "the parsed object goes in `parsed` (a manifest row's own `schema` wins)",
    )
    _request_options(annotate)
    target_options(annotate, ray=True)
    ray = annotate.add_argument_group("Ray (needs the [ray] extra)")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on Ray Data: alone, a local Ray instance; with an ADDRESS (ray://host:10001, "
        "auto), that cluster. Needs --model",
    )
    ray.add_argument("--actors", type=int, default=1, help="engines (Ray actors) to run, one model each (default 1)")
    ray.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs each actor reserves (default 0)")
    ray.add_argument("--cpus-per-actor", type=float, default=1.0, help="CPUs each actor reserves (default 1)")
    annotate.set_defaults(func=annotate_command)

    critic = add_command(
        subparsers,
        "critic",
        help="score candidate videos for one prompt and rank them (best-of-N)",
        description="Best-of-N: score each candidate with the video critic (or --reward: P(Yes)) and rank them.",
        example='cosmos-reason critic a.mp4 b.mp4 c.mp4 --prompt "A robot stacks cups." --out ranking.jsonl '
        "--server http://localhost:8000",
    )
    critic.add_argument("candidates", nargs="+", metavar="CANDIDATE", help="candidate videos (paths or URLs)")
    critic.add_argument(
        "--prompt", help="the prompt the candidates were generated from (given to the model as context)"
    )
    critic.add_argument(
        "--question",
        help="the question asked about each video (default: the critic's, or for "
        "--reward whether it is plausible and free of artifacts)",
    )
    critic.add_argument(
        "--reward",
        action="store_true",
        help="score by P(Yes) from one forward pass (/v1/score method yes_no) instead of the critic",
    )
    critic.add_argument("--n", type=int, default=4, help="critic reviews sampled per video (default 4)")
    critic.add_argument("--out", "-o", default="ranking.jsonl", help="ranking JSONL (default ranking.jsonl)")
    critic.add_argument("--chart", help="bar chart PNG (default: --out with .png)")
    critic.add_argument(
        "--retry-errors",
        action="store_true",
        help="rerunning on the same --out keeps the rows of candidates asked the same way; "
        "this also asks again those that failed (an unreadable review, a corrupt file)",
    )
    _request_options(critic, only=CRITIC_OPTIONS)  # what /v1/score takes
    target_options(critic)
    critic.set_defaults(func=critic_command)

    batch = add_command(
        subparsers,
        "run-batch",
        help="run an OpenAI Batch API input file, write the Batch API output file (resumable)",
        description="Run an OpenAI Batch API JSONL file (custom_id, method, url, body) against this model.",
        example="cosmos-reason run-batch -i requests.jsonl -o results.jsonl --server http://localhost:8000 "
        "--force-model",
    )
    batch.add_argument("-i", "--input", required=True, help="Batch API input JSONL")
    batch.add_argument("-o", "--output", required=True, help="Batch API output JSONL; rerun to resume")
    batch.add_argument(
        "--force-model",
        action="store_true",
        help="send every request to the served model, whatever its body's model says",
    )
    batch.add_argument(
        "--retry-errors",
        action="store_true",
        help="also redo requests whose line is an error answer (their old lines are removed)",
    )
    target_options(batch)
    batch.set_defaults(func=batch_command)

    from .eval_cli import register_eval

    register_eval(subparsers)

    from .frames import add_arguments as frames_arguments
    from .frames import frames_command

    frames = add_command(
        subparsers,
        "frames",
        help="write the frames a model sees of a video (PNG), with their times and token count",
        description="Write a video's frames exactly as sampled and resized for the model, with frames.json "
        "(source frame, time, size of each; the vision tokens and grid) and, with --sheet, a contact sheet.",
        example="cosmos-reason frames clip.mp4 --fps 2 --timestamp --sheet --out clip-frames",
    )
    frames_arguments(frames)
    frames.set_defaults(func=frames_command)


def _request_options(p: argparse.ArgumentParser, only: tuple[str, ...] = REQUEST_OPTIONS) -> None:
    """The request options a command sends (critic: only those /v1/score takes)."""
    g = p.add_argument_group("request options" + (" (a manifest item's own options win)" if "top_p" in only else ""))
    if "max_tokens" in only:
        g.add_argument("--max-tokens", type=int)
    if "temperature" in only:
        g.add_argument("--temperature", type=float)
    if "top_p" in only:
        g.add_argument("--top-p", type=float)
    if "seed" in only:
        g.add_argument("--seed", type=int)
    if "reasoning" in only:
        g.add_argument(
            "--reasoning",
            action="store_true",
            default=None,
            help="ask for <think> reasoning (tasks with reasoning already do)",
        )
    g.add_argument("--fps", type=float, help="video frames sampled per second")
    g.add_argument("--max-pixels", type=int, help="largest image/frame size in pixels")
    g.add_argument(
        "--options",
        type=json_object,
        default={},
        metavar="JSON",
        help="more request or media options as a JSON object, e.g. '{\"nframes\": 8}'",
    )


def schema_file(path: str) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read a JSON schema from {path}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{path}: a JSON schema is a JSON object")
    return value


# ---- helpers -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cosmos_reason.jobs")
    register(parser.add_subparsers(metavar="COMMAND", title="commands"))
    args, extra = parser.parse_known_args(argv)
    if extra:  # a mistyped flag: the command's own usage
        (getattr(args, "command_parser", None) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return args.func(args)
