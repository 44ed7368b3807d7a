"""Metrics (Prometheus) and structured logs (structlog, one JSON object per line).

Each app builds its own `Metrics` on its own registry, so two apps in one process (tests) never
clash. Queue depth, the oldest queued job and expired leases are read from the database at scrape
time, not kept in gauges that could drift. deploy/k8s/monitoring (alerts and the Grafana
dashboard) uses only the names defined here; tests/deploy/test_monitoring.py checks that.

    API /metrics      requests, errors, jobs by status, oldest queued job, expired leases,
                      data-dir disk, audit-chain checks
    worker /metrics   (`scenecraft worker --metrics-port`) job phases and outcomes, loop heartbeat,
                      GPU memory, data-dir disk
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class QueueHealth:
    oldest_queued_seconds: float  # 0 when nothing is queued
    lease_expired: int  # running jobs whose lease ran out: their worker stopped heartbeating


class _QueueHealth(Collector):
    def __init__(self, read: Callable[[], QueueHealth]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            health = self.read()
        except Exception:
            return
        yield GaugeMetricFamily(
            "scenecraft_oldest_queued_job_age_seconds",
            "Age of the oldest queued job (0: none queued)",
            value=health.oldest_queued_seconds,
        )
        yield GaugeMetricFamily(
            "scenecraft_jobs_lease_expired",
            "Running jobs whose lease expired (their worker stopped heartbeating; reaped at the next claim)",
            value=health.lease_expired,
        )


class _Disk(Collector):
    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            usage = shutil.disk_usage(self.path)
        except OSError:
            return
        free = GaugeMetricFamily("scenecraft_data_dir_free_bytes", "Free bytes on the data directory's filesystem")
        free.add_metric([], usage.free)
        yield free
        size = GaugeMetricFamily("scenecraft_data_dir_size_bytes", "Size of the data directory's filesystem")
        size.add_metric([], usage.total)
        yield size


class _GPUMemory(Collector):
    """CUDA memory per device, from torch, only in a process that already imported it (a worker):
    the API never imports torch (DESIGN.md)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        used = GaugeMetricFamily("scenecraft_gpu_memory_used_bytes", "GPU memory in use", labels=["device"])
        total = GaugeMetricFamily("scenecraft_gpu_memory_total_bytes", "GPU memory on the device", labels=["device"])
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                free_bytes, total_bytes = torch.cuda.mem_get_info(index)
                used.add_metric([str(index)], total_bytes - free_bytes)
                total.add_metric([str(index)], total_bytes)
        yield used
        yield total


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

        self.audit_checks = Counter(
            "scenecraft_audit_chain_checks_total",
            "Periodic audit-chain verifications by result (ok, broken)",
            ["result"],
            registry=self.registry,
        )
        self.worker_heartbeat: Gauge | None = None  # registered by watch_workers(), in processes with workers

    def watch_queue(self, read: Callable[[], dict[str, int]], health: Callable[[], QueueHealth] | None = None) -> None:
        self.registry.register(_QueueDepth(read))
        if health is not None:
            self.registry.register(_QueueHealth(health))

    def watch_workers(self) -> Gauge:
        if self.worker_heartbeat is None:
            self.worker_heartbeat = Gauge(
                "scenecraft_worker_heartbeat_timestamp_seconds",
                "When a worker loop of this process last went round (Unix time)",
                registry=self.registry,
            )
        return self.worker_heartbeat

    def watch_disk(self, path: Path) -> None:
        self.registry.register(_Disk(path))

    def watch_gpu(self) -> None:
        self.registry.register(_GPUMemory())

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
