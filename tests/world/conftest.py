"""Shared fixtures for the scene-world tests."""

from tests.utils.scenes import person_scene, two_objects

__all__ = ["person_scene", "two_objects"]
