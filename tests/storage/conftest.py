"""Fixtures for tests/storage."""

from tests.utils.fixtures import *  # noqa: F403
