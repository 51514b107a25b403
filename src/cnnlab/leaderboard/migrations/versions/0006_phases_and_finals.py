"""Phases and final submissions: a task opens and closes at given times, and each student
marks the submissions the private ranking uses.

`tasks.opens_at`, `tasks.closes_at`: submissions outside them are refused (NULL: no bound).
`tasks.final_count`: how many submissions a student may mark final (Kaggle's two by default).
`submissions.final`: marked by its author for the private ranking.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:  # SQLite alters a table by copying it
        batch.add_column(sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("final_count", sa.Integer, nullable=False,
                                   server_default="2"))
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("final", sa.Boolean, nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("final")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("final_count")
        batch.drop_column("closes_at")
        batch.drop_column("opens_at")
