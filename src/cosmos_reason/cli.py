"""`cosmos-reason` command line: serve, make-demo-model, and the jobs (annotate, critic, run-batch).

The serve flags are server/flags.py's; the jobs' commands are jobs/cli.py's. What a command needs
only to run (torch, the server, the engines) is imported inside it, so `--help` stays quick."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from .commandline import add_command
from .server.flags import add_serve_arguments, check_device, check_model_source, settings_from_args

log = logging.getLogger("cosmos_reason")
DEMO_SIZES = ("tiny", "0.5b", "7b")  # demo.checkpoint.SIZES, without importing torch for --help


DESCRIPTION = """Serve Cosmos-Reason1 vision-language models over the OpenAI API, and run batch jobs
against them: annotate folders of images and videos, rank generated videos, run OpenAI
Batch API files. `cosmos-reason COMMAND --help` shows each command's options."""
EXAMPLES = """examples:
  cosmos-reason serve nvidia/Cosmos-Reason1-7B --port 8000
  cosmos-reason serve --model demo                      # tiny random model, no download
  cosmos-reason make-demo-model ./demo-ckpt --size tiny
  cosmos-reason annotate ./clips --task caption --out captions.jsonl --server http://localhost:8000
  cosmos-reason critic a.mp4 b.mp4 --prompt "A robot stacks cups." --server http://localhost:8000
  cosmos-reason run-batch -i requests.jsonl -o results.jsonl --server http://localhost:8000
  cosmos-reason eval data/benchmark --out results.jsonl --server http://localhost:8000
  cosmos-reason frames clip.mp4 --fps 2 --out clip-frames   # the frames the model sees
  cosmos-reason report captions.jsonl --out report.html
  cosmos-reason export captions.jsonl --parquet captions.parquet"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return args.func(args)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that a mistyped flag is reported with its command's usage, not the top level's."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        (getattr(args, "command_parser", None) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("cosmos-reason")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosmos-reason",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cosmos-reason {version()}")
    sub = parser.add_subparsers(metavar="COMMAND", title="commands")
    serve_command = add_command(
        sub,
        "serve",
        help="serve a Cosmos-Reason1 checkpoint over the OpenAI API",
        example='cosmos-reason serve nvidia/Cosmos-Reason1-7B --port 8000 --api-key "$KEY"',
    )
    add_serve_arguments(serve_command)
    serve_command.set_defaults(func=serve)
    demo = add_command(
        sub,
        "make-demo-model",
        help="write a tiny random Qwen2.5-VL checkpoint (no network)",
        example="cosmos-reason make-demo-model ./demo-ckpt --size tiny && cosmos-reason serve --model ./demo-ckpt",
    )
    demo.add_argument("dir", type=Path, help="folder to write the checkpoint into")
    demo.add_argument("--size", default="tiny", choices=DEMO_SIZES, help="tiny (default), 0.5b or 7b")
    demo.add_argument(
        "--family",
        default="reason1",
        choices=("reason1", "reason2"),
        help="reason1: Qwen2.5-VL of --size (default); reason2: a tiny Qwen3-VL (Cosmos-Reason2)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=make_demo_model)
    from .jobs.cli import register as register_jobs  # annotate, critic, run-batch

    register_jobs(sub)
    from .report.cli import register as register_report  # report, export

    register_report(sub)
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .engine.hf.loading import ModelLoadError
    from .engine.registry import create_engine
    from .engine.upstream.pool import parse_upstream
    from .server.app import create_app
    from .server.http import http_protocol
    from .server.logs import setup_logging, uvicorn_log_config

    setup_logging(args.log_level)
    try:
        settings = settings_from_args(args)
        if settings.workers > 1:
            for spec in settings.upstreams:  # each worker reads them again; say what is wrong once, here
                parse_upstream(spec)
            engine = None
        else:
            if settings.engine == "hf":
                check_model_source(settings.model)
                check_device(settings.device)
            engine = create_engine(settings)
    except (ModelLoadError, ValueError) as exc:
        print(f"cosmos-reason: error: {exc}", file=sys.stderr)
        return 1
    if args.host is None and not settings.api_keys:
        log.info(
            "no API key: listening on %s (this machine only); give --host 0.0.0.0 to listen on every interface",
            settings.host,
        )
    base = server_url(settings.host, settings.port)
    log.info("serving %r on %s/v1", settings.model_name, base)
    log.info("playground: %s/", base)
    # h11 (with read deadlines: server/http.py) accepts any method token, so the guide's `curl -X Post` works.
    options = dict(
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=http_protocol(settings.header_read_timeout, settings.body_read_timeout),
        log_config=uvicorn_log_config(),
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    if engine is None:
        from .server.workers import serve_workers

        return serve_workers(settings, options)
    if engine.info.random_weights:
        log.warning("serving the DEMO model (%s): RANDOM weights, its answers are meaningless", engine.info.source)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), **options))
    # On SIGTERM uvicorn stops accepting, lets running requests (streams included) finish for up to
    # timeout_graceful_shutdown, shuts the app down, and then re-raises the signal to the handler that was
    # there before it. With the default handler the drained process would die of SIGTERM (status 143);
    # this one only asks uvicorn to exit, so a drained server exits 0 (and a SIGTERM that arrives before
    # uvicorn has installed its own handler still shuts it down).
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    return 0 if server.started else 1


def server_url(host: str, port: int) -> str:
    """The URL to open on this machine: 0.0.0.0 and :: are not addresses a browser can open."""
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def make_demo_model(args: argparse.Namespace) -> int:
    from .demo.checkpoint import make_demo_model as build
    from .server.logs import setup_logging

    setup_logging("info")
    size = args.size if args.family == "reason1" else args.family
    try:
        path = build(args.dir, size=size, seed=args.seed)
    except (OSError, ValueError) as exc:  # a foreign folder, no space, no permission: one line
        print(f"cosmos-reason: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote demo checkpoint ({size}, RANDOM weights) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
