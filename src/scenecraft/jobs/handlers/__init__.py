"""One handler per job kind: `HANDLERS[kind](lease)` runs a claimed batch of that kind to its end."""

from __future__ import annotations

from collections.abc import Callable

from scenecraft.jobs.handlers import effects, generate
from scenecraft.jobs.lease import Lease

HANDLERS: dict[str, Callable[[Lease], None]] = {
    "generate": generate.run,
    "effects": effects.run,
}
