"""`cosmos-reason` command line: serve, make-demo-model."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from .media.settings import add_media_arguments, media_settings_from_args, parse_bytes
from .settings import SamplingDefaults, Settings, api_keys_from_env

log = logging.getLogger("cosmos_reason")
_D = Settings()
DEMO_MAX_TOKENS = 256
_S = SamplingDefaults()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return args.func(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos-reason", description=__doc__)
    sub = parser.add_subparsers(metavar="COMMAND")
    _serve_parser(sub.add_parser("serve", help="serve a Cosmos-Reason1 checkpoint over the OpenAI API"))
    demo = sub.add_parser("make-demo-model", help="write a tiny random Qwen2.5-VL checkpoint (no network)")
    demo.add_argument("dir", type=Path, help="folder to write the checkpoint into")
    demo.add_argument("--size", default="tiny", help="tiny (default), 0.5b or 7b")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=make_demo_model)
    from .jobs.cli import register as register_jobs  # annotate, critic, run-batch

    register_jobs(sub)
    return parser


def _serve_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=_D.model,
                   help="local checkpoint folder, Hugging Face hub id, or 'demo' / 'demo:SIZE' "
                        f"for the built-in random demo model (default: {_D.model})")
    p.add_argument("--served-model-name", action="append", default=[],
                   help="name clients use as `model` (repeatable; the first is listed in /v1/models)")
    p.add_argument("--host", default=None,
                   help="address to listen on (default: 0.0.0.0, every interface, with an API key; "
                        "127.0.0.1, this machine only, without one)")
    p.add_argument("--port", type=int, default=_D.port)
    p.add_argument("--api-key", action="append", default=[],
                   help="accepted API key (repeatable); also read from COSMOS_REASON_API_KEY, comma-separated")
    p.add_argument("--dtype", default=_D.dtype, choices=["auto", "bfloat16", "float16", "float32"],
                   help="auto: bfloat16 on a GPU, the checkpoint's own dtype elsewhere")
    p.add_argument("--device", default=_D.device, help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--engine", default=_D.engine, choices=["hf", "upstream"],
                   help="hf: the model in this process; upstream: forward to the --upstream servers")
    p.add_argument("--upstream", action="append", default=[], metavar="URL",
                   help="an OpenAI-compatible server for --engine upstream (repeatable), e.g. "
                        "'http://vllm-0:8000/v1?model=nvidia/Cosmos-Reason1-7B&key_env=VLLM_KEY'; "
                        "options: model, key_env, key, api=auto|vllm|cosmos|openai, frames=png|webp|jpeg, "
                        "timeout, connect_timeout (README, Deployment)")
    p.add_argument("--workers", type=int, default=_D.workers,
                   help="--engine upstream: front processes sharing the port, for fleets whose token rate "
                        "outruns one process (each worker balances its own requests; /metrics adds them up)")
    p.add_argument("--max-n", type=int, default=_D.max_n, help="most choices one request may ask for")
    p.add_argument("--max-num-seqs", type=int, default=_D.max_num_seqs,
                   help="sequences generated together (continuous batching)")
    p.add_argument("--max-queued-requests", type=int, default=_D.max_queued_requests,
                   help="requests waiting for a free sequence slot; beyond this, 429 with Retry-After")
    p.add_argument("--max-prefill-tokens", type=int, default=_D.max_prefill_tokens,
                   help="prompt tokens prefilled between two decode steps; longer prompts are prefilled in chunks "
                        "of this size")
    p.add_argument("--shutdown-timeout", type=float, default=_D.shutdown_timeout,
                   help="on SIGTERM, seconds running requests get to finish before they are cut (then exit 0)")
    p.add_argument("--reasoning", action="store_true",
                   help="add the model card's <think>/<answer> instruction unless a request says 'reasoning': false")
    p.add_argument("--default-temperature", type=float, default=_S.temperature)
    p.add_argument("--default-top-p", type=float, default=_S.top_p)
    p.add_argument("--default-repetition-penalty", type=float, default=_S.repetition_penalty)
    p.add_argument("--default-max-tokens", type=int, default=None,
                   help=f"max_tokens when a request gives none (default {_S.max_tokens}, the model card's; "
                        f"{DEMO_MAX_TOKENS} for the demo model, whose random text rarely ends by itself)")
    p.add_argument("--header-read-timeout", type=float, default=_D.header_read_timeout, metavar="SECONDS",
                   help="a request's head must arrive within this; else 408 and the connection is closed")
    p.add_argument("--body-read-timeout", type=float, default=_D.body_read_timeout, metavar="SECONDS",
                   help="longest pause while a request body arrives; else 408 and the connection is closed")
    p.add_argument("--max-buffered-body-bytes", type=parse_bytes, default=None, metavar="SIZE",
                   help="request bodies held in memory at once, all clients together; beyond it, 503 with "
                        "Retry-After (default 256MiB, or --max-request-bytes if that is larger)")
    p.add_argument("--public-metrics", action="store_true", help="serve /metrics without an API key")
    p.add_argument("--log-level", default=_D.log_level, choices=["debug", "info", "warning", "error"])
    add_media_arguments(p)
    p.set_defaults(func=serve)


def settings_from_args(args: argparse.Namespace) -> Settings:
    sampling = SamplingDefaults(
        temperature=args.default_temperature,
        top_p=args.default_top_p,
        repetition_penalty=args.default_repetition_penalty,
        max_tokens=args.default_max_tokens or (DEMO_MAX_TOKENS if _is_demo(args.model) else _S.max_tokens),
    )
    names = tuple(args.served_model_name) or (("cosmos-reason1-demo",) if _is_demo(args.model) else ())
    return Settings(
        model=args.model,
        served_model_names=names,
        engine=args.engine,
        host=args.host,
        port=args.port,
        api_keys=tuple(args.api_key) + api_keys_from_env(),
        dtype=args.dtype,
        device=args.device,
        sampling=sampling,
        max_n=args.max_n,
        max_num_seqs=args.max_num_seqs,
        max_queued_requests=args.max_queued_requests,
        max_prefill_tokens=args.max_prefill_tokens,
        shutdown_timeout=args.shutdown_timeout,
        reasoning=args.reasoning,
        public_metrics=args.public_metrics,
        media=media_settings_from_args(args),
        upstreams=tuple(args.upstream),
        workers=args.workers,
        log_level=args.log_level,
        header_read_timeout=args.header_read_timeout,
        body_read_timeout=args.body_read_timeout,
        max_buffered_body_bytes=args.max_buffered_body_bytes,
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .engine.loading import ModelLoadError
    from .engine.registry import create_engine
    from .engine.upstream_pool import parse_upstream
    from .server.app import create_app
    from .server.http import http_protocol

    setup_logging(args.log_level)
    try:
        settings = settings_from_args(args)
        if settings.workers > 1:
            for spec in settings.upstreams:  # each worker reads them again; say what is wrong once, here
                parse_upstream(spec)
            engine = None
        else:
            engine = create_engine(settings)
    except (ModelLoadError, ValueError) as exc:
        print(f"cosmos-reason: error: {exc}", file=sys.stderr)
        return 1
    if args.host is None and not settings.api_keys:
        log.info("no API key: listening on %s (this machine only); give --host 0.0.0.0 to listen on every "
                 "interface", settings.host)
    base = server_url(settings.host, settings.port)
    log.info("serving %r on %s/v1", settings.model_name, base)
    log.info("playground: %s/", base)
    # h11 (with read deadlines: server/http.py) accepts any method token, so the guide's `curl -X Post` works.
    options = dict(host=settings.host, port=settings.port, log_level=settings.log_level,
                   http=http_protocol(settings.header_read_timeout, settings.body_read_timeout),
                   log_config=_uvicorn_log_config(), timeout_graceful_shutdown=settings.shutdown_timeout)
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

    setup_logging("info")
    path = build(args.dir, size=args.size, seed=args.seed)
    print(f"wrote demo checkpoint ({args.size}, RANDOM weights) to {path}")
    return 0


def _is_demo(model: str) -> bool:
    return model.partition(":")[0] == "demo" and not Path(model).exists()


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
ACCESS_FORMAT = '%(asctime)s %(levelname)s access [%(request_id)s]: %(client_addr)s - "%(request_line)s" %(status_code)s'


def setup_logging(level: str) -> None:
    """Every line carries the id of the request it is about (x-request-id), "-" outside requests."""
    from .server.middleware import RequestIdLogFilter

    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdLogFilter())
    # httpx logs every media URL it fetches, query string (often a signature) included.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def _uvicorn_log_config() -> dict:
    """uvicorn's own logging configuration, with the request id on its lines and the access log."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": "cosmos_reason.server.middleware.RequestIdLogFilter"}}
    config["formatters"]["default"]["fmt"] = LOG_FORMAT
    config["formatters"]["access"]["fmt"] = ACCESS_FORMAT
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    return config


if __name__ == "__main__":
    sys.exit(main())
