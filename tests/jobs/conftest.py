"""Fixtures for tests/jobs."""

from tests.utils.fixtures import *  # noqa: F403
