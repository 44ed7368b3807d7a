"""A small Server-Sent Events parser for tests (the format of the WHATWG HTML spec, §9.2)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    id: str
    event: str
    data: Any


def parse(lines: Iterable[str]) -> list[Event]:
    events: list[Event] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                events.append(Event(fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return events
