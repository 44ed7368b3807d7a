"""Fixtures for tests/db."""

from tests.utils.fixtures import *  # noqa: F403
