"""finish_in_thread: a cancel waits for the thread's call to finish, whichever way it comes."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import pytest

from scenecraft.api.threads import finish_in_thread


class SlowCall:
    """Blocks until released, so a test can cancel while it runs; records when it finished."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished_at: float | None = None

    def __call__(self) -> str:
        self.started.set()
        assert self.release.wait(10), "never released"
        time.sleep(0.05)
        self.finished_at = time.monotonic()
        return "done"


async def wait_started(call: SlowCall) -> None:
    while not call.started.is_set():
        await asyncio.sleep(0.01)


def test_it_returns_the_calls_result() -> None:
    assert asyncio.run(finish_in_thread(lambda: 42)) == 42


def test_an_exception_in_the_call_is_raised() -> None:
    def fail() -> None:
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        asyncio.run(finish_in_thread(fail))


def test_a_task_cancel_waits_for_the_call_then_is_raised() -> None:
    """The way uvicorn cancels a request at shutdown: the old await returned while the thread ran on."""
    call = SlowCall()

    async def main() -> float:
        task = asyncio.create_task(finish_in_thread(call))
        await wait_started(call)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done(), "the cancel took effect while the call was still running"
        call.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    ended = asyncio.run(main())
    assert call.finished_at is not None and call.finished_at <= ended


def test_a_task_group_cancel_waits_for_the_call() -> None:
    """The way Starlette ends a streaming response when the client hangs up."""
    call = SlowCall()
    seen: list[str] = []

    async def stream() -> None:
        seen.append(await finish_in_thread(call))
        await anyio.sleep(10)  # the next checkpoint: the held cancel lands here
        seen.append("not cancelled")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream)
            await wait_started(call)
            threading.Timer(0.1, call.release.set).start()  # this task is in the cancelled scope too
            tg.cancel_scope.cancel()

    asyncio.run(main())
    assert call.finished_at is not None
    assert seen == ["done"]  # the await got the call's result; the cancel landed at the next checkpoint
