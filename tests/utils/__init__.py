"""Test helpers shared by the platform tests: database fixtures, factories, a fake engine."""
