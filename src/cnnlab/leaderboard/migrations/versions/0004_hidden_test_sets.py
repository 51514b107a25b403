"""Test sets the students do not have: a teacher imports one per task.

`test_sets`: the images and labels (a compressed .npz), stored once per content, with how many
images and where they came from. `tasks.test_set`: the set a task ranks on; NULL ranks on the
dataset's official test set, whose labels are public.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_sets",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("images", sa.Integer, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    with op.batch_alter_table("tasks") as batch:  # SQLite alters a table by copying it
        batch.add_column(sa.Column("test_set", sa.String(64), sa.ForeignKey(
            "test_sets.sha256", name="fk_tasks_test_set"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("fk_tasks_test_set", type_="foreignkey")
        batch.drop_column("test_set")
    op.drop_table("test_sets")
