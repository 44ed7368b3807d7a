"""Persistence: SQLAlchemy models (models.py), engines and migrations (engine.py, migrations/)."""

from scenecraft.db.engine import Database, make_engine, migrate

__all__ = ["Database", "make_engine", "migrate"]
