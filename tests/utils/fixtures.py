"""Fixtures shared by tests/db, tests/storage, tests/api and tests/jobs (imported by their conftest)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.config import Settings
from scenecraft.db import Database
from tests.utils.databases import BACKENDS, PoolWatch, temporary_database

TEST_SECRET = "test-secret-key-0123456789abcdef"
TEST_MASTER = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=4)
    database.migrate()
    yield database
    database.dispose()


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "master_keys": {"k1": TEST_MASTER},
        "active_master_key_id": "k1",
        "embedded_workers": 0,
        "event_bus": "memory",
        "cookie_secure": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    """A migrated platform; closed afterwards, and no connection may still be out when its pool closes
    (the app's shutdown closes it first, with any request or housekeeping call still running)."""
    platform = Platform.from_settings(settings)
    watch = PoolWatch(platform.db.engine)
    platform.db.migrate()
    yield platform
    platform.close()
    watch.assert_released()


@pytest.fixture
def app(platform: Platform) -> FastAPI:
    return create_app(platform=platform)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def platform_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Platform]]:
    """Builds migrated platforms with settings overrides; disposes their connections afterwards."""
    made: list[tuple[Platform, PoolWatch]] = []

    def build(**overrides: object) -> Platform:
        platform = Platform.from_settings(make_settings(tmp_path, database_url, **overrides))
        made.append((platform, PoolWatch(platform.db.engine)))
        platform.db.migrate()
        return platform

    yield build
    for platform, _ in made:
        platform.close()
    for _, watch in made:
        watch.assert_released()
