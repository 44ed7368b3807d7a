"""Blocking work on a worker thread that a cancel cannot leave running behind the request.

``run_in_threadpool`` waits for its thread when anyio cancels it (a client hanging up on a
streaming response), but a plain ``task.cancel()`` (uvicorn cancelling requests at shutdown,
``asyncio.wait_for``) ends the ``await`` at once while the thread runs on with a pooled connection
or the request's database session. The session is then closed by the request's teardown under the
thread, or the pool is disposed at shutdown with the connection still out (it goes back into the
disposed pool and is garbage-collected open). ``finish_in_thread`` lets the call finish first,
whichever way the cancel comes, then the cancel takes effect. Use it for short, bounded calls only:
a cancel waits for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi.concurrency import run_in_threadpool

T = TypeVar("T")


async def finish_in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on a worker thread; a cancel while it runs waits for it, then is raised."""
    call = asyncio.ensure_future(run_in_threadpool(fn))
    # The call runs in a task of its own; the shield holds an anyio cancel (re-sent at every await)
    # off the wait below, so it lands at the caller's next checkpoint.
    with anyio.CancelScope(shield=True):
        try:
            result = await asyncio.shield(call)
        except asyncio.CancelledError:  # a task.cancel() (shutdown): the call finishes, then the cancel
            await asyncio.wait([call])
            raise
    return result
