"""Helpers for the jobs tests: media folders, the app on a scripted engine, an annotate run on it,
a fake server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_reason.server.process import ServerProcess, free_port
from tests.media_factory import mp4_bytes, png_bytes

ROOT = Path(__file__).resolve().parents[2]
MODEL = "test-model"


def scripted_target(engine, **settings):
    """The real app (create_app) around a scripted engine, reached in-process."""
    from cosmos_reason.jobs.clients import in_process_target
    from cosmos_reason.settings import Settings

    return in_process_target(
        "unused", engine=engine, settings=Settings(model="/ckpt", served_model_names=(MODEL,), **settings)
    )


async def annotate(items, out: Path, engine, **kwargs):
    """An AnnotateJob run of `items` into `out` through the app on `engine` (fast retries unless a policy is given)."""
    from cosmos_reason.jobs.annotate import AnnotateJob
    from cosmos_reason.jobs.execution import RetryPolicy

    target = scripted_target(engine)
    kwargs.setdefault("policy", RetryPolicy(attempts=4, base=0.01, cap=0.05))
    job = AnnotateJob(items, out, target=target, quiet=True, **kwargs)
    try:
        await job.run()
    finally:
        await target.aclose()
    return job


def write_images(folder: Path, count: int, prefix: str = "img", start_seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:04d}.png"
        path.write_bytes(png_bytes(16, 12, seed=start_seed + i))
        paths.append(path)
    return paths


def write_video(path: Path, seconds: float = 1.0, fps: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mp4_bytes(seconds=seconds, fps=fps, width=32, height=24))
    return path


def read_lines(path: Path) -> list[dict]:
    """Every line, each of which must be a JSON object."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not an object"
        rows.append(row)
    return rows


def jobs_command(*args: str) -> list[str]:
    """`python -m cosmos_reason.jobs ...`: the jobs CLI without importing the server (fast start)."""
    return [sys.executable, "-m", "cosmos_reason.jobs", *args]


def run_jobs(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        jobs_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def summary_of(result: subprocess.CompletedProcess) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"summary"')]
    assert lines, f"no summary (rc {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])["summary"]


class FakeServer(ServerProcess):
    """tests/jobs/fake_server.py in its own process: the real app and uvicorn, a scripted engine."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        pieces: list[str] | None = None,
        api_key: str | None = None,
        flaky_every: int = 0,
        gate: int | None = None,
        recipes: str | None = None,
    ) -> None:
        port = free_port()
        config = {
            "port": port,
            "delay": delay,
            "pieces": pieces,
            "api_key": api_key,
            "flaky_every": flaky_every,
            "gate": gate,
            "recipes": recipes,
        }
        super().__init__(
            command=[sys.executable, str(Path(__file__).with_name("fake_server.py")), json.dumps(config)],
            port=port,
            cwd=ROOT,
            log_name=f"cosmos-reason-fake-{port}.log",
        )

    def wait_ready(self, timeout: float = 120) -> FakeServer:
        super().wait_ready(timeout)
        return self

    def allow(self, more: int = 0, *, all: bool = False) -> None:  # noqa: A002 - the server's field name
        """With gate=k: let `more` further /v1 POSTs through (all=True: every one from now on)."""
        import httpx

        httpx.post(f"{self.url}/test/allow", json={"more": more, "all": all}, timeout=30).raise_for_status()


@pytest.fixture(scope="session")
def fake_server():
    server = FakeServer(delay=0.01, pieces=["A", " caption", " of", " this", " image", "."]).wait_ready()
    yield server
    server.stop()
