"""Real servers for the upstream engine: two of our own servers on the demo checkpoint as
upstreams (separate processes), and our server with `--engine upstream` in front of them."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from cosmos_reason.server.process import ServerProcess, free_port  # noqa: F401 - re-exported for the tests

UPSTREAM_KEY = "upstream-secret"
FRONT_KEY = "front-secret"
FRONT_MODEL = "front-model"
#: The upstreams refuse n > 2: a request the front accepts and an upstream rejects (its 4xx).
UPSTREAM_MAX_N = 2


def start_all(*procs: ServerProcess) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(procs)) as pool:
        for future in [pool.submit(p.wait_ready) for p in procs]:
            future.result()


def front_process(upstream_urls: list[str], *extra: str) -> ServerProcess:
    args = [
        "--engine",
        "upstream",
        "--api-key",
        FRONT_KEY,
        "--served-model-name",
        FRONT_MODEL,
        "--default-max-tokens",
        "16",
        *extra,
    ]
    for url in upstream_urls:
        args += ["--upstream", url]
    return ServerProcess(args, env={"UPSTREAM_KEY": UPSTREAM_KEY})


@pytest.fixture(scope="session")
def servers(demo_model_dir, demo_cache_dir):
    """(front, [upstream_a, upstream_b]), all three started at once: the front waits for its
    upstreams by itself (it probes them until they answer)."""
    args = ["--model", "demo", "--api-key", UPSTREAM_KEY, "--max-n", str(UPSTREAM_MAX_N), "--default-max-tokens", "16"]
    ups = [ServerProcess(args, env={"COSMOS_REASON_CACHE": str(demo_cache_dir)}) for _ in range(2)]
    # Two spellings of the syntax: with /v1 and without (it is added).
    front = front_process([f"{ups[0].url}/v1?key_env=UPSTREAM_KEY", f"{ups[1].url}?key_env=UPSTREAM_KEY&timeout=60"])
    try:
        start_all(*ups, front)
        yield front, ups
    finally:
        for proc in (front, *ups):
            proc.stop()


@pytest.fixture(scope="session")
def upstreams(servers):
    return servers[1]


@pytest.fixture(scope="session")
def front(servers):
    return servers[0]


def upstream_metric(proc: ServerProcess, name: str, labels: str = "") -> float:
    text = httpx.get(f"{proc.url}/metrics", headers={"authorization": UPSTREAM_KEY}, timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def chat_requests(proc: ServerProcess) -> float:
    return upstream_metric(proc, "cosmos_reason_requests_total", '{route="/v1/chat/completions",status="200"}')
