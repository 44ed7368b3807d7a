"""App shutdown: the housekeeping call in flight finishes before the database pool is closed."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.utils.databases import PoolWatch

from scenecraft import audit
from scenecraft.api.platform import Platform


def test_shutdown_waits_for_the_housekeeping_call_in_flight(
    app: FastAPI, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel used to end the wait for the worker thread but not the thread: the pool was disposed
    while the audit check held a connection, which then went back into the disposed pool unclosed."""
    in_flight = threading.Event()
    real_verify = audit.verify

    def slow_verify(session: Session) -> audit.ChainReport:
        report = real_verify(session)  # the session now holds a pooled connection until it commits
        in_flight.set()
        time.sleep(0.5)
        return report

    monkeypatch.setattr(audit, "verify", slow_verify)
    watch = PoolWatch(platform.db.engine)
    with TestClient(app):  # the lifespan's housekeeping verifies the chain at start
        assert in_flight.wait(10), "housekeeping never verified the audit chain"
    assert watch.out_at_dispose == [0]  # one dispose (Platform.close in the shutdown), nothing out then
    assert watch.checked_out == 0


def test_shutdown_does_not_wait_out_the_housekeeping_interval(
    app: FastAPI, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = threading.Event()
    real_verify = audit.verify

    def verify(session: Session) -> audit.ChainReport:
        report = real_verify(session)
        checked.set()
        return report

    monkeypatch.setattr(audit, "verify", verify)
    with TestClient(app):
        assert checked.wait(10), "housekeeping never verified the audit chain"
        time.sleep(0.2)  # it is now waiting for the next round (HOUSEKEEPING_SECONDS)
        started = time.monotonic()
    assert time.monotonic() - started < 5
