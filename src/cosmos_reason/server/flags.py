"""The `serve` flags: their definitions, the Settings they make, and the checks of --model and
--device that run before anything loads.

Shared by `cosmos-reason serve` (cli.py) and the jobs' in-process target
(jobs/clients.py: "as `serve --model`"). Imports no torch and no PyAV, so `--help` is quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..families.registry import FAMILIES, default_family
from ..media.settings import add_media_arguments, media_settings_from_args, parse_bytes
from ..recipes.files import load_recipe_dir
from ..settings import SamplingFlags, Settings, api_keys_from_env

DEFAULTS = Settings()
CARD = default_family().sampling
DEMO_MAX_TOKENS = 256


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `serve` (its `func` is main's to set)."""
    p.add_argument("model_tag", nargs="?", metavar="MODEL", help="the model, as --model (vLLM's `serve MODEL`)")
    p.add_argument(
        "--model",
        default=None,
        help="local checkpoint folder, Hugging Face hub id, or 'demo' / 'demo:SIZE' "
        f"for the built-in random demo model (default: {DEFAULTS.model})",
    )
    p.add_argument(
        "--served-model-name",
        action="append",
        default=[],
        help="name clients use as `model` (repeatable; the first is listed in /v1/models)",
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: 0.0.0.0, every interface, with an API key; "
        "127.0.0.1, this machine only, without one)",
    )
    p.add_argument("--port", type=int, default=DEFAULTS.port)
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        help="accepted API key (repeatable); also read from COSMOS_REASON_API_KEY, comma-separated",
    )
    p.add_argument(
        "--dtype",
        default=DEFAULTS.dtype,
        choices=["auto", "bfloat16", "float16", "float32"],
        help="auto: bfloat16 on a GPU, the checkpoint's own dtype elsewhere",
    )
    p.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--engine",
        default=DEFAULTS.engine,
        choices=["hf", "upstream"],
        help="hf: the model in this process; upstream: forward to the --upstream servers",
    )
    p.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="URL",
        help="an OpenAI-compatible server for --engine upstream (repeatable), e.g. "
        "'http://vllm-0:8000/v1?model=nvidia/Cosmos-Reason1-7B&key_env=VLLM_KEY'; "
        "options: model, key_env, key, api=auto|vllm|cosmos|openai, frames=png|webp|jpeg, "
        "timeout, connect_timeout (README, Deployment)",
    )
    p.add_argument(
        "--family",
        default=None,
        choices=[f.name for f in FAMILIES],
        help="--engine upstream: the model family the upstreams serve (its reasoning format, recipes and "
        "defaults; default: " + default_family().name + "); the hf engine reads it from the checkpoint",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULTS.workers,
        help="--engine upstream: front processes sharing the port, for fleets whose token rate "
        "outruns one process (each worker balances its own requests; /metrics adds them up)",
    )
    p.add_argument("--max-n", type=int, default=DEFAULTS.max_n, help="most choices one request may ask for")
    p.add_argument(
        "--max-num-seqs",
        type=int,
        default=DEFAULTS.max_num_seqs,
        help="sequences generated together (continuous batching)",
    )
    p.add_argument(
        "--max-queued-requests",
        type=int,
        default=DEFAULTS.max_queued_requests,
        help="requests waiting for a free sequence slot; beyond this, 429 with Retry-After",
    )
    p.add_argument(
        "--max-prefill-tokens",
        type=int,
        default=DEFAULTS.max_prefill_tokens,
        help="prompt tokens prefilled between two decode steps; longer prompts are prefilled in chunks of this size",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=DEFAULTS.shutdown_timeout,
        help="on SIGTERM, seconds running requests get to finish before they are cut (then exit 0)",
    )
    p.add_argument(
        "--reasoning",
        action="store_true",
        help="add the model family's reasoning instruction unless a request says 'reasoning': false",
    )
    p.add_argument(
        "--default-temperature",
        type=float,
        default=None,
        help=f"temperature when a request gives none (default: the model card's, {CARD.temperature} "
        f"for {default_family().title})",
    )
    p.add_argument("--default-top-p", type=float, default=None, help="top_p when a request gives none (the card's)")
    p.add_argument(
        "--default-repetition-penalty",
        type=float,
        default=None,
        help="repetition_penalty when a request gives none (the card's)",
    )
    p.add_argument(
        "--default-max-tokens",
        type=int,
        default=None,
        help=f"max_tokens when a request gives none (default {CARD.max_tokens}, the model card's; "
        f"{DEMO_MAX_TOKENS} for the demo model, whose random text rarely ends by itself)",
    )
    p.add_argument(
        "--header-read-timeout",
        type=float,
        default=DEFAULTS.header_read_timeout,
        metavar="SECONDS",
        help="a request's head must arrive within this; else 408 and the connection is closed",
    )
    p.add_argument(
        "--body-read-timeout",
        type=float,
        default=DEFAULTS.body_read_timeout,
        metavar="SECONDS",
        help="longest pause while a request body arrives; else 408 and the connection is closed",
    )
    p.add_argument(
        "--max-buffered-body-bytes",
        type=parse_bytes,
        default=None,
        metavar="SIZE",
        help="request bodies held in memory at once, all clients together; beyond it, 503 with "
        "Retry-After (default 256MiB, or --max-request-bytes if that is larger)",
    )
    p.add_argument(
        "--recipes",
        metavar="DIR",
        help="a folder of task recipe files (*.yaml, the cookbook's prompts/ shape): added to GET /v1/tasks "
        'and the playground, selected with "task": NAME; one named like a built-in replaces it',
    )
    p.add_argument("--public-metrics", action="store_true", help="serve /metrics without an API key")
    p.add_argument("--log-level", default=DEFAULTS.log_level, choices=["debug", "info", "warning", "error"])
    add_media_arguments(p)


def serve_model(args: argparse.Namespace) -> str:
    """The model: `serve MODEL` or `serve --model MODEL` (both only when they agree)."""
    tag, flag = getattr(args, "model_tag", None), args.model
    if tag and flag and tag != flag:
        raise ValueError(f"the model is given twice: MODEL {tag!r} and --model {flag!r}; give one")
    return tag or flag or DEFAULTS.model


def settings_from_args(args: argparse.Namespace) -> Settings:
    args.model = serve_model(args)
    sampling = SamplingFlags(
        temperature=args.default_temperature,
        top_p=args.default_top_p,
        repetition_penalty=args.default_repetition_penalty,
        max_tokens=args.default_max_tokens or (DEMO_MAX_TOKENS if is_demo(args.model) else None),
    )
    names = tuple(args.served_model_name) or ((demo_name(args.model),) if is_demo(args.model) else ())
    return Settings(
        model=args.model,
        served_model_names=names,
        engine=args.engine,
        family=args.family,
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
        recipes=load_recipe_dir(args.recipes) if getattr(args, "recipes", None) else (),
    )


def is_demo(model: str) -> bool:
    """`demo` or `demo:SIZE`, the built-in random model (unless a folder of that name exists)."""
    return model.partition(":")[0] == "demo" and not Path(model).exists()


def demo_name(model: str) -> str:
    """The served name of a demo model: cosmos-reason2-demo for `demo:reason2`, else cosmos-reason1-demo."""
    return "cosmos-reason2-demo" if model.partition(":")[2] == "reason2" else "cosmos-reason1-demo"


# ---- --model: a folder, a hub id or the demo, told apart before anything loads ----------------


def _looks_like_path(model: str) -> bool:
    """A hub id is 'name' or 'org/name'; a leading / . ~, a backslash or a second slash is a path."""
    return (
        model.startswith(("/", "./", "../", "~", ".")) or "\\" in model or model.count("/") > 1 or model.endswith("/")
    )


def check_model_source(model: str, *, timeout: float = 3.0) -> None:
    """One clear line (ValueError) for a --model that cannot work, before transformers is asked:
    a path that does not exist, or a hub id that is not cached while the hub is out of reach
    (checked once, in `timeout` seconds, instead of huggingface_hub's retries). When the hub is
    out of reach but the model is cached, the load goes offline (HF_HUB_OFFLINE) at once."""
    import os

    path = Path(model).expanduser()
    if is_demo(model) or path.is_dir():
        return
    if path.exists():
        raise ValueError(f"--model {model}: not a folder (give the checkpoint's folder, with its config.json)")
    if _looks_like_path(model):
        raise ValueError(
            f"--model {model}: no such folder (give a checkpoint folder, a Hugging Face hub "
            f"id such as nvidia/Cosmos-Reason1-7B, or --model demo)"
        )
    offline = (
        "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") else None
    )
    if offline is None and not _hub_reachable(timeout):
        offline = "no connection to the hub"
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: no retries
    if offline and not _hub_cached(model):
        raise ValueError(
            f"--model {model}: not in the local Hugging Face cache and the hub is out of reach "
            f"({offline}); "
            f"download it where there is network (`hf download {model}`) and pass its folder, "
            f"or try --model demo (random weights)"
        )


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
