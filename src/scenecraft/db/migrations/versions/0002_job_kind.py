"""Jobs get explicit `kind` and `model` columns (expand step: nullable, old pods keep working).

Old workers never write these columns and still read `params["kind"]`, which new code keeps
writing, so old and new pods can share the queue during a rolling update. Rows left NULL by old
pods are read by kind from params (jobs/params.py `parse_params`); `model` only steers worker
affinity (jobs/queue.py `claim`), so a NULL there costs a preference, never a job. Existing rows
are backfilled here. A later contract step may make both NOT NULL once no old pod is left.

Revision ID: 0002_job_kind
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002_job_kind"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=128), nullable=True))
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("params", sa.JSON),
        sa.column("kind", sa.String),
        sa.column("model", sa.String),
    )
    conn = op.get_bind()
    for job_id, params in conn.execute(sa.select(jobs.c.id, jobs.c.params)).all():
        values = params if isinstance(params, dict) else json.loads(params or "{}")
        kind = str(values.get("kind") or "generate")
        model = values.get("model") if kind == "generate" else None
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(kind=kind, model=model))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("model")
        batch_op.drop_column("kind")
