"""Near copies by their weights: each evaluated submission keeps its model's weights in
canonical form (leaderboard.canonical_weights) with a digest of its layers' shapes, and a
suspected copy records how far its weights are from the earlier submission's.

`submissions.weights`: the canonical layers packed as .npz (NULL for a network with no such
form, one evaluated before, and exercises); `weights_architecture`: the digest, so that only
models of one architecture are compared; `copy_weight_distance`: 0 for the same network,
near 1 for honest models of one architecture.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("weights", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("weights_architecture", sa.String(64), nullable=True))
        batch.add_column(sa.Column("copy_weight_distance", sa.Float, nullable=True))
        batch.create_index("ix_submissions_weights_architecture", ["weights_architecture"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_weights_architecture")
        batch.drop_column("copy_weight_distance")
        batch.drop_column("weights_architecture")
        batch.drop_column("weights")
