"""Copies: each submission's model fingerprint, and whether it copies another student's.

`submissions.fingerprint`: the hash of the model in the file, whatever its names and metadata
(leaderboard.copies). `submissions.copy_of`: the earlier submission by another student to the
same task that holds the same model; such a submission is not ranked until the teacher
clears it (`copy_cleared`).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:  # SQLite alters a table by copying it
        batch.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("copy_of", sa.Integer, nullable=True))
        batch.add_column(sa.Column("copy_cleared", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.create_index("ix_submissions_fingerprint", ["fingerprint"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_fingerprint")
        batch.drop_column("copy_cleared")
        batch.drop_column("copy_of")
        batch.drop_column("fingerprint")
