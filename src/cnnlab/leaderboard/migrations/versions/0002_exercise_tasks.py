"""Exercise tasks: a task may grade backpropagation exercise files instead of ONNX models.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:  # SQLite alters a table by copying it
        batch.add_column(sa.Column("exercise", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("exercise")
