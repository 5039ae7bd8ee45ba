"""`serve --workers N` (--engine upstream): N front processes on one port.

One Python process relays every token of every stream on one core; in front of a fleet of
GPU servers that core, not the fleet, becomes the limit, and a burst of arrivals queues
behind it. uvicorn's supervisor starts the workers on the listening socket it binds (the
kernel hands each new connection to one of them), restarts any that dies and, on SIGTERM,
lets each drain as a single server does. Each worker builds its own engine and upstream
pool from the same settings, so the balancing (fewest requests in flight) is per worker.

Settings reach the workers through an environment variable, the factory's only input;
/metrics adds up every worker's numbers through prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, a folder made for the run and removed after it).
"""

from __future__ import annotations

import base64
import logging
import os
import pickle
import shutil
import tempfile

from ..metrics import MULTIPROC_ENV
from ..settings import Settings

log = logging.getLogger(__name__)

SETTINGS_ENV = "COSMOS_REASON_WORKER_SETTINGS"


def serve_workers(settings: Settings, uvicorn_options: dict) -> int:
    """Run `settings.workers` worker processes until SIGTERM/SIGINT; the exit status."""
    import uvicorn

    metrics_dir = tempfile.mkdtemp(prefix="cosmos-reason-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[SETTINGS_ENV] = base64.b64encode(pickle.dumps(settings)).decode()
    try:
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers, **uvicorn_options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def worker_app():
    """The app of one worker process (uvicorn's factory)."""
    from ..engine.registry import create_engine
    from .app import create_app
    from .logs import setup_logging

    settings: Settings = pickle.loads(base64.b64decode(os.environ[SETTINGS_ENV]))
    setup_logging(settings.log_level)
    log.info("worker %d: %s", os.getpid(), settings.model_name)
    return create_app(settings, create_engine(settings))
