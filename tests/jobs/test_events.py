"""Event bus transports: a publish in one thread or connection wakes a waiter elsewhere."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from tests.utils.databases import POSTGRES_URL

from scenecraft.jobs.events import MemoryBus, PostgresBus, RedisBus, make_bus


async def wake_from_thread(listener: MemoryBus, publisher: MemoryBus, delay: float = 0.3) -> tuple[bool, bool]:
    def later() -> None:
        time.sleep(delay)
        publisher.publish("job-1")

    threading.Thread(target=later, daemon=True).start()
    woke = await listener.wait("job-1", timeout=5.0)
    other = await listener.wait("job-2", timeout=0.2)  # nobody publishes job-2
    return woke, other


def test_memory_bus_wakes_across_threads() -> None:
    bus = MemoryBus()
    assert asyncio.run(wake_from_thread(bus, bus)) == (True, False)


def test_postgres_notify_reaches_another_connection() -> None:
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    listener, publisher = PostgresBus(url), PostgresBus(url)
    listener.start()
    time.sleep(0.5)  # let LISTEN register
    try:
        assert asyncio.run(wake_from_thread(listener, publisher)) == (True, False)
    finally:
        listener.close()
        publisher.close()


def test_a_closed_postgres_bus_opens_no_connection() -> None:
    """A worker thread may publish after the platform closed the bus: it wakes local waiters only
    and leaves no connection behind (one was found later, open, by the garbage collector)."""
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    bus = PostgresBus(url)
    bus.publish("a" * 32)
    first = bus._publisher
    assert first is not None and not first.closed
    bus.close()
    assert first.closed and bus._publisher is None
    bus.publish("b" * 32)
    assert bus._publisher is None


def test_redis_pubsub_reaches_another_client() -> None:
    listener, publisher = RedisBus("redis://127.0.0.1:6379/0"), RedisBus("redis://127.0.0.1:6379/0")
    listener.start()
    time.sleep(0.5)
    try:
        assert asyncio.run(wake_from_thread(listener, publisher)) == (True, False)
    finally:
        listener.close()
        publisher.close()


def test_auto_picks_the_transport() -> None:
    assert type(make_bus("auto", database_url="sqlite:///x.db", redis_url="")) is MemoryBus
    assert type(make_bus("auto", database_url="postgresql://u@h/db", redis_url="")) is PostgresBus
    with pytest.raises(ValueError, match="event_bus='postgres' needs a PostgreSQL database_url"):
        make_bus("postgres", database_url="sqlite:///x.db", redis_url="")


def test_a_publish_with_redis_down_is_best_effort() -> None:
    """Nothing listens on this port: the wake-up is lost (logged), the caller goes on, and local
    waiters in this process still hear it."""
    import asyncio

    from tests.utils.processes import free_port

    from scenecraft.jobs.events import RedisBus

    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    try:

        async def scenario() -> bool:
            waiter = asyncio.create_task(bus.wait("job-1", timeout=5))
            await asyncio.sleep(0.05)
            bus.publish("job-1")  # must not raise
            return await waiter

        assert asyncio.run(scenario()) is True
    finally:
        bus.close()
