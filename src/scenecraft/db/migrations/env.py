"""Alembic environment: runs on the engine passed in `config.attributes["engine"]`
(see db/engine.py), or on SCENECRAFT_DATABASE_URL when run from the `alembic` command."""

from __future__ import annotations

import os

from alembic import context

from scenecraft.db.engine import make_engine
from scenecraft.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = make_engine(os.environ["SCENECRAFT_DATABASE_URL"])
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
