"""Event bus: tells SSE streams "job X has new events" so they re-read the job_events table.

Events themselves are rows (durable, numbered per job: the SSE id, so Last-Event-ID resumes);
the bus carries only wake-ups. Three transports, one interface:

- memory:   one process (embedded workers, the default);
- postgres: NOTIFY on channel `scenecraft_jobs`, a LISTEN thread per API process;
- redis:    PUBLISH on `scenecraft:jobs`, a subscriber thread per API process.

A missed wake-up costs at most `poll_seconds` of latency: SSE streams re-read the table on a
timer too, which also covers standalone workers on SQLite with no shared bus. So a publish is
best effort: with Redis or the database briefly unreachable it logs and returns, and the job that
published goes on (a wake-up is never worth a failed job).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from typing import Any, Protocol

import structlog

CHANNEL = "scenecraft_jobs"
log = structlog.get_logger("scenecraft.events")


class EventBus(Protocol):
    def publish(self, job_id: str) -> None: ...
    async def wait(self, job_id: str, timeout: float) -> bool: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class LocalWaiters:
    """Fans a wake-up out to the asyncio tasks waiting on that job, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)

    def wake(self, job_id: str) -> None:
        with self._lock:
            targets = list(self._waiters.get(job_id, ()))
        for loop, event in targets:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(event.set)

    async def wait(self, job_id: str, timeout: float) -> bool:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[job_id].add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters[job_id].discard(entry)
                if not self._waiters[job_id]:
                    del self._waiters[job_id]


class MemoryBus:
    def __init__(self) -> None:
        self.local = LocalWaiters()

    def publish(self, job_id: str) -> None:
        self.local.wake(job_id)

    async def wait(self, job_id: str, timeout: float) -> bool:
        return await self.local.wait(job_id, timeout)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class PostgresBus(MemoryBus):
    """LISTEN/NOTIFY. `url` is a libpq URL (postgresql://...)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publisher: Any = None
        self._publish_lock = threading.Lock()  # guards _publisher: publishers and close() race

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def publish(self, job_id: str) -> None:
        self.local.wake(job_id)  # same-process listeners hear it at once
        with self._publish_lock:
            if self._stop.is_set():  # closed: a late publish (a worker thread winding down) opens nothing
                return
            try:
                if self._publisher is None or self._publisher.closed:
                    self._publisher = self._connect()
                self._publisher.execute("SELECT pg_notify(%s, %s)", (CHANNEL, job_id))
            except Exception as exc:  # psycopg.Error, OSError: the database blinked; polling covers it
                log.warning("wake-up not published", job_id=job_id, error=f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    if self._publisher is not None:
                        self._publisher.close()
                self._publisher = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="pg-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self.local.wake(note.payload)
            except Exception:  # connection lost: retry after a pause; SSE polling covers the gap
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._publish_lock:
            if self._publisher is not None:
                self._publisher.close()
            self._publisher = None


class RedisBus(MemoryBus):
    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.client = redis.Redis.from_url(url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, job_id: str) -> None:
        self.local.wake(job_id)
        try:
            self.client.publish("scenecraft:jobs", job_id)
        except Exception as exc:  # redis.RedisError: Redis is down; SSE polling covers the gap
            log.warning("wake-up not published", job_id=job_id, error=f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="redis-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]  # typed in newer redis releases only
                pubsub.subscribe("scenecraft:jobs")
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self.local.wake(message["data"].decode())
                pubsub.close()
            except Exception:
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.client.close()


def make_bus(kind: str, *, database_url: str, redis_url: str) -> EventBus:
    """`auto`: Redis when configured, else PostgreSQL NOTIFY on PostgreSQL, else in-memory."""
    if kind == "auto":
        kind = "redis" if redis_url else ("postgres" if database_url.startswith("postgresql") else "memory")
    if kind == "redis":
        if not redis_url:
            raise ValueError("event_bus='redis' needs redis_url")
        return RedisBus(redis_url)
    if kind == "postgres":
        if not database_url.startswith("postgresql"):
            raise ValueError("event_bus='postgres' needs a PostgreSQL database_url")
        return PostgresBus(database_url.replace("postgresql+psycopg://", "postgresql://"))
    return MemoryBus()
