"""`serve --workers N` in front of a real upstream: N processes on one port, metrics
added up, a dead worker replaced, a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import FRONT_KEY, FRONT_MODEL, front_process

pytestmark = pytest.mark.e2e


def worker_pids(front) -> list[int]:
    """The uvicorn worker processes under the front's supervisor (not multiprocessing's helper)."""
    return [
        pid
        for pid in front.children()
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]


def ask(url: str, i: int) -> str:
    body = {
        "model": FRONT_MODEL,
        "messages": [{"role": "user", "content": f"Count to {i}."}],
        "max_tokens": 4,
        "stream": i % 2 == 0,
    }
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": FRONT_KEY}, timeout=60)
    assert response.status_code == 200, response.text
    if body["stream"]:
        assert response.text.rstrip().endswith("data: [DONE]")
        return "".join(line for line in response.text.splitlines() if '"content"' in line)
    return response.json()["choices"][0]["message"]["content"]


def chat_count(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"authorization": FRONT_KEY}, timeout=10).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('cosmos_reason_requests_total{route="/v1/chat/completions",status="200"}')
    )
    return float(line.rsplit(" ", 1)[1])


def test_workers_share_the_port_add_up_metrics_and_replace_the_dead(upstreams):
    proc = front_process([f"{upstreams[0].url}/v1?key_env=UPSTREAM_KEY"], "--workers", "2")
    try:
        proc.wait_ready()
        workers = worker_pids(proc)
        assert len(workers) == 2
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: ask(proc.url, i), range(24)))
        assert all(answers)
        # Whichever worker answers /metrics, it counts every worker's requests.
        assert chat_count(proc.url) == 24 and chat_count(proc.url) == 24

        os.kill(workers[0], signal.SIGKILL)
        assert all(ask(proc.url, i) for i in range(4))  # the other worker goes on serving
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            current = worker_pids(proc)
            if len(current) == 2 and workers[0] not in current:
                break
            time.sleep(0.5)
        assert len(current) == 2 and workers[0] not in current, f"no replacement worker: {current}"
    finally:
        proc.stop()
    assert proc.proc.returncode == 0, proc.output()[-3000:]


def test_workers_need_the_upstream_engine(demo_model_dir, capsys):
    from cosmos_reason.cli import main

    assert main(["serve", "--model", str(demo_model_dir), "--workers", "2"]) == 1
    assert "--workers above 1 needs --engine upstream" in capsys.readouterr().err
