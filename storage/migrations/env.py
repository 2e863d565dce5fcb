"""Alembic environment. hubgate runs migrations on a connection it hands over (see storage.migrate)."""

from __future__ import annotations

from alembic import context

from storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    msg = "run migrations through `hubgate migrate`, which provides the database connection"
    raise RuntimeError(msg)

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
