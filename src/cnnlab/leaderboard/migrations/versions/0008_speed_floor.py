"""The course's speed rule: speed ranks only submissions at or above the task's accuracy floor.

`tasks.min_accuracy` (NULL: no floor, as for the tasks made before it) and
`tasks.min_accuracy_source`: where the figure comes from, as the task's page says it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("min_accuracy", sa.Float, nullable=True))
        batch.add_column(sa.Column("min_accuracy_source", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("min_accuracy_source")
        batch.drop_column("min_accuracy")
