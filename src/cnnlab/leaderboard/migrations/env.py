"""Alembic's entry point: run the migrations on the connection `database.migrate` passes in."""

from alembic import context

from cnnlab.leaderboard.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
