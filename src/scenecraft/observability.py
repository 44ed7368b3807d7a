"""Metrics (Prometheus) and structured logs (structlog, one JSON object per line).

Each app builds its own `Metrics` on its own registry, so two apps in one process (tests) never
clash. Queue depth is read from the database at scrape time, not kept in a gauge that could drift.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class _QueueDepth(Collector):
    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("scenecraft_jobs", "Jobs by status (queue depth = queued)", labels=["status"])
        try:
            counts = self.read()
        except Exception:  # a scrape must not fail because the DB blinked; /readyz reports that
            counts = {}
        for status in ("queued", "running", "succeeded", "dead", "cancelled"):
            family.add_metric([status], counts.get(status, 0))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "scenecraft_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "scenecraft_errors_total",
            "Errors by kind (http_5xx, job_failed, webhook_failed, ...)",
            ["kind"],
            registry=self.registry,
        )
        self.job_phase = Histogram(
            "scenecraft_job_phase_duration_seconds",
            "Job time by phase (queued, generate, store)",
            ["phase"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "scenecraft_jobs_finished_total", "Jobs finished by outcome", ["outcome"], registry=self.registry
        )
        self.model_load_seconds = Histogram(
            "scenecraft_model_load_seconds",
            "Time to load a model into a worker (from disk to ready)",
            ["model"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.model_resident_bytes = Gauge(
            "scenecraft_model_resident_bytes",
            "Weights of the models a worker holds now, by model",
            ["model"],
            registry=self.registry,
        )
        self.model_swaps = Counter(
            "scenecraft_model_swaps_total", "Resident models unloaded to make room for another", registry=self.registry
        )

    def watch_queue(self, read: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_QueueDepth(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """structlog to stdout: JSON lines with timestamp, level, event and bound context (request_id)."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )


log = structlog.get_logger("scenecraft")
