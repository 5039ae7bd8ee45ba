"""Prometheus metrics, one registry per app (no module-level state)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

if TYPE_CHECKING:
    from .engine.base import EngineStats

#: prometheus_client's multiprocess folder; set (by `serve --workers`) before it is imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_ITL = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "cosmos_reason_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        # (livesum: with several worker processes, the sum over the live ones)
        self.queue_depth = Gauge(
            "cosmos_reason_queue_depth", "Requests waiting for a sequence slot", registry=r, multiprocess_mode="livesum"
        )
        self.running = Gauge(
            "cosmos_reason_running_sequences", "Sequences being generated", registry=r, multiprocess_mode="livesum"
        )
        self.ttft = Histogram(
            "cosmos_reason_time_to_first_token_seconds", "Time to first token", buckets=_LATENCY, registry=r
        )
        self.itl = Histogram(
            "cosmos_reason_inter_token_latency_seconds", "Time between streamed deltas", buckets=_ITL, registry=r
        )
        self.e2e = Histogram(
            "cosmos_reason_request_latency_seconds", "Whole request latency", buckets=_LATENCY, registry=r
        )
        self.prompt_tokens = Counter("cosmos_reason_prompt_tokens", "Prompt tokens processed", registry=r)
        self.completion_tokens = Counter("cosmos_reason_completion_tokens", "Tokens generated", registry=r)
        self.media_bytes = Counter("cosmos_reason_media_bytes", "Media bytes received", ["kind"], registry=r)
        self.media_seconds = Histogram(
            "cosmos_reason_media_decode_seconds",
            "Media decode and preprocessing time",
            ["kind"],
            buckets=_LATENCY,
            registry=r,
        )

    def watch_engine(self, stats: Callable[[], EngineStats]) -> None:
        """Gauges read the engine's own numbers at scrape time."""
        self.queue_depth.set_function(lambda: stats().waiting_requests)
        self.running.set_function(lambda: stats().running_rows)

    def render(self) -> bytes:
        """This process's metrics; under `serve --workers N`, every worker's added up (the
        values live in PROMETHEUS_MULTIPROC_DIR, see server/workers.py)."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class RequestTimer:
    """Times one generation: first token, gaps between deltas, the whole request."""

    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics
        self.start = self.last = time.monotonic()
        self.first = True

    def delta(self) -> None:
        if self.metrics is None:
            return
        now = time.monotonic()
        (self.metrics.ttft if self.first else self.metrics.itl).observe(now - (self.start if self.first else self.last))
        self.first, self.last = False, now

    def done(self, prompt_tokens: int, completion_tokens: int) -> None:
        if self.metrics is None:
            return
        self.metrics.e2e.observe(time.monotonic() - self.start)
        self.metrics.prompt_tokens.inc(prompt_tokens)
        self.metrics.completion_tokens.inc(completion_tokens)
