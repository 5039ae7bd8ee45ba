"""`cosmos-reason` command line: serve, make-demo-model, and the jobs (annotate, critic, run-batch)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from .jobs.cli import add_command
from .media.settings import add_media_arguments, media_settings_from_args, parse_bytes
from .settings import SamplingDefaults, Settings, api_keys_from_env

log = logging.getLogger("cosmos_reason")
_D = Settings()
DEMO_MAX_TOKENS = 256
DEMO_SIZES = ("tiny", "0.5b", "7b")  # demo.checkpoint.SIZES, without importing torch for --help
_S = SamplingDefaults()


DESCRIPTION = """Serve Cosmos-Reason1 vision-language models over the OpenAI API, and run batch jobs
against them: annotate folders of images and videos, rank generated videos, run OpenAI
Batch API files. `cosmos-reason COMMAND --help` shows each command's options."""
EXAMPLES = """examples:
  cosmos-reason serve nvidia/Cosmos-Reason1-7B --port 8000
  cosmos-reason serve --model demo                      # tiny random model, no download
  cosmos-reason make-demo-model ./demo-ckpt --size tiny
  cosmos-reason annotate ./clips --task caption --out captions.jsonl --server http://localhost:8000
  cosmos-reason critic a.mp4 b.mp4 --prompt "A robot stacks cups." --server http://localhost:8000
  cosmos-reason run-batch -i requests.jsonl -o results.jsonl --server http://localhost:8000"""


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
    parser = argparse.ArgumentParser(prog="cosmos-reason", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cosmos-reason {version()}")
    sub = parser.add_subparsers(metavar="COMMAND", title="commands")
    _serve_parser(add_command(sub, "serve", help="serve a Cosmos-Reason1 checkpoint over the OpenAI API",
                              example='cosmos-reason serve nvidia/Cosmos-Reason1-7B --port 8000 --api-key "$KEY"'))
    demo = add_command(sub, "make-demo-model", help="write a tiny random Qwen2.5-VL checkpoint (no network)",
                       example="cosmos-reason make-demo-model ./demo-ckpt --size tiny && "
                               "cosmos-reason serve --model ./demo-ckpt")
    demo.add_argument("dir", type=Path, help="folder to write the checkpoint into")
    demo.add_argument("--size", default="tiny", choices=DEMO_SIZES, help="tiny (default), 0.5b or 7b")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=make_demo_model)
    from .jobs.cli import register as register_jobs  # annotate, critic, run-batch

    register_jobs(sub)
    return parser


def _serve_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_tag", nargs="?", metavar="MODEL", help="the model, as --model (vLLM's `serve MODEL`)")
    p.add_argument("--model", default=None,
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


def serve_model(args: argparse.Namespace) -> str:
    """The model: `serve MODEL` or `serve --model MODEL` (both only when they agree)."""
    tag, flag = getattr(args, "model_tag", None), args.model
    if tag and flag and tag != flag:
        raise ValueError(f"the model is given twice: MODEL {tag!r} and --model {flag!r}; give one")
    return tag or flag or _D.model


def settings_from_args(args: argparse.Namespace) -> Settings:
    args.model = serve_model(args)
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

    from .engine.hf.loading import ModelLoadError
    from .engine.registry import create_engine
    from .engine.upstream.pool import parse_upstream
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
            if settings.engine == "hf":
                check_model_source(settings.model)
                check_device(settings.device)
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
    try:
        path = build(args.dir, size=args.size, seed=args.seed)
    except (OSError, ValueError) as exc:  # a foreign folder, no space, no permission: one line
        print(f"cosmos-reason: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote demo checkpoint ({args.size}, RANDOM weights) to {path}")
    return 0


def _is_demo(model: str) -> bool:
    return model.partition(":")[0] == "demo" and not Path(model).exists()


# ---- --model: a folder, a hub id or the demo, told apart before anything loads ----------------


def _looks_like_path(model: str) -> bool:
    """A hub id is 'name' or 'org/name'; a leading / . ~, a backslash or a second slash is a path."""
    return model.startswith(("/", "./", "../", "~", ".")) or "\\" in model or model.count("/") > 1 or \
        model.endswith("/")


def check_model_source(model: str, *, timeout: float = 3.0) -> None:
    """One clear line (ValueError) for a --model that cannot work, before transformers is asked:
    a path that does not exist, or a hub id that is not cached while the hub is out of reach
    (checked once, in `timeout` seconds, instead of huggingface_hub's retries). When the hub is
    out of reach but the model is cached, the load goes offline (HF_HUB_OFFLINE) at once."""
    import os

    path = Path(model).expanduser()
    if _is_demo(model) or path.is_dir():
        return
    if path.exists():
        raise ValueError(f"--model {model}: not a folder (give the checkpoint's folder, with its config.json)")
    if _looks_like_path(model):
        raise ValueError(f"--model {model}: no such folder (give a checkpoint folder, a Hugging Face hub "
                         f"id such as nvidia/Cosmos-Reason1-7B, or --model demo)")
    offline = "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1", "true", "yes", "on") else None
    if offline is None and not _hub_reachable(timeout):
        offline = "no connection to the hub"
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: no retries
    if offline and not _hub_cached(model):
        raise ValueError(f"--model {model}: not in the local Hugging Face cache and the hub is out of reach "
                         f"({offline}); "
                         f"download it where there is network (`hf download {model}`) and pass its folder, "
                         f"or try --model demo (random weights)")


def check_device(device: str) -> None:
    """One line (ValueError) for a --device this machine does not have, before any model loads."""
    if device == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {device}: not a device (auto, cpu, cuda, cuda:N)") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = "" if torch.version.cuda else f" (this torch {torch.__version__} is a CPU-only build)"
            raise ValueError(f"--device {device}: no CUDA GPU is visible here{build}; use --device cpu or auto")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"--device {device}: only {count} CUDA GPU(s) visible (cuda:0 to cuda:{count - 1})")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: Apple MPS is not available here; use --device cpu or auto")


def _hub_reachable(timeout: float) -> bool:
    """Whether a TCP connection to the hub (HF_ENDPOINT) opens within `timeout` s, DNS included."""
    import os
    import socket
    import threading
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _hub_cached(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # noqa: BLE001 - an id huggingface_hub refuses is not cached either
        return False


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
