"""Borrowed test sets: what add-task found comparing an imported set with its dataset's public
images, and whether the teacher took it although its labels are public.

`tasks.public_overlap`: the finding in words, as the task's page says it (NULL: a task on the
official test set, or one made before the comparison existed). `tasks.labels_public`: the
imported set was accepted with --allow-public (too many public images, or not compared).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("public_overlap", sa.String(500), nullable=True))
        batch.add_column(sa.Column("labels_public", sa.Boolean, nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("labels_public")
        batch.drop_column("public_overlap")
