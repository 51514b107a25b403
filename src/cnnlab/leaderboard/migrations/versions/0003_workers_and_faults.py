"""Workers report themselves, and a failure says whose it is.

`workers`: each verification worker's heartbeat (what /healthz reports). `submissions.fault`:
"file" when the submitted file caused its failure (it counts against the daily limit, as an
accepted submission does), "server" when the leaderboard did (it does not).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submission_id", sa.Integer, nullable=True),
    )
    with op.batch_alter_table("submissions") as batch:  # SQLite alters a table by copying it
        batch.add_column(sa.Column("fault", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("fault")
    op.drop_table("workers")
