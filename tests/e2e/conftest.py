"""The real server process on the real (tiny, random) demo checkpoint."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from cosmos_reason.server.process import ServerProcess, free_port  # noqa: F401 - used by the e2e tests

API_KEY = "e2e-secret-key"
MODEL_NAME = "cosmos-reason1-demo"


@pytest.fixture(scope="session")
def demo_checkpoint(demo_model_dir: Path) -> Path:
    return demo_model_dir


@pytest.fixture(scope="session")
def server(demo_checkpoint, demo_cache_dir):
    # `--model demo` as a user runs it, finding the session's build through the cache variable.
    proc = ServerProcess(["--model", "demo", "--api-key", API_KEY], env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def reason2_server(reason2_model_dir, demo_cache_dir, static_files):
    """`--model demo:reason2`, shared by the Reason2 tests (test_reason2_server.py, the playground's):
    its media folder is reachable over http (static_files) and as file://."""
    root, _ = static_files
    args = ["--model", "demo:reason2", "--allow-private-media-urls", "--allowed-local-media-path", str(root)]
    proc = ServerProcess(args, env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def static_files(tmp_path_factory):
    """A localhost file server standing in for the guide's remote image and video URLs."""
    root = tmp_path_factory.mktemp("static")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
