"""Everything a running API process holds, built once from Settings and kept on `app.state`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from scenecraft.auth.gateway import IPFilter, RateLimiter, TrustedProxies
from scenecraft.auth.secretbox import SecretBox
from scenecraft.config import Settings
from scenecraft.db import Database
from scenecraft.families.library import Library, scan
from scenecraft.jobs.egress import EgressGuard
from scenecraft.jobs.events import EventBus, make_bus
from scenecraft.jobs.queue import QueuePolicy, queue_depth, queue_health
from scenecraft.observability import Metrics, QueueHealth
from scenecraft.storage.store import BlobStore


def policy_from_settings(settings: Settings) -> QueuePolicy:
    return QueuePolicy(
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        retry_backoff_seconds=settings.retry_backoff_seconds,
        max_batch_size=settings.max_batch_size,
        quota_max_queued=settings.quota_max_queued,
        quota_max_running=settings.quota_max_running,
        affinity_wait_seconds=settings.affinity_wait_seconds,
    )


@dataclass
class Platform:
    settings: Settings
    db: Database
    store: BlobStore
    limiter: RateLimiter
    ip_filter: IPFilter
    proxies: TrustedProxies
    egress: EgressGuard
    box: SecretBox
    bus: EventBus
    metrics: Metrics
    policy: QueuePolicy
    workers: Any = None  # jobs.worker.WorkerPool when embedded workers run
    extras: dict[str, Any] = field(default_factory=dict)
    _library: tuple[float, Library] | None = None
    _library_lock: threading.Lock = field(default_factory=threading.Lock)

    LIBRARY_TTL_SECONDS = 5.0  # a model copied into models_dir shows up within this long

    def library(self) -> Library:
        """The installed models (settings.models_dir, read from files; cached for a few seconds)."""
        with self._library_lock:
            now = time.monotonic()
            if self._library is None or now - self._library[0] > self.LIBRARY_TTL_SECONDS:
                self._library = (now, scan(self.settings.resolved_models_dir, self.settings.model))
            return self._library[1]

    @classmethod
    def from_settings(cls, settings: Settings, *, bus: EventBus | None = None) -> Platform:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        metrics = Metrics()
        platform = cls(
            settings=settings,
            db=db,
            store=BlobStore.from_settings(settings),
            limiter=RateLimiter(settings.redis_url or "memory://"),
            ip_filter=IPFilter(settings.ip_allow, settings.ip_deny),
            proxies=TrustedProxies(settings.trusted_proxies),
            egress=EgressGuard(settings.webhook_allow_private),
            box=SecretBox(settings.secret_key.get_secret_value()),
            bus=bus
            or make_bus(settings.event_bus, database_url=settings.resolved_database_url, redis_url=settings.redis_url),
            metrics=metrics,
            policy=policy_from_settings(settings),
        )

        def depth() -> dict[str, int]:
            with db.session() as s:
                return queue_depth(s)

        def health() -> QueueHealth:
            with db.session() as s:
                return queue_health(s)

        metrics.watch_queue(depth, health)
        metrics.watch_disk(settings.data_dir)
        return platform

    def close(self) -> None:
        """Releases what the platform holds: the event bus (its connections: a PostgreSQL bus
        opens one to publish, even when it never started listening) and the database pool."""
        self.bus.close()
        self.db.dispose()

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(hours=self.settings.session_absolute_hours)
