"""Fixtures for tests/api."""

from tests.utils.fixtures import *  # noqa: F403
