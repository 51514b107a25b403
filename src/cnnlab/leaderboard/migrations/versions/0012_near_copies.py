"""Near copies: a submission that predicts what another student's earlier submission predicts
on the hidden images, beyond what independent training gives, is flagged as a suspected copy.

`submissions.predictions`: the class it predicts for each hidden image, one byte each with a
bit for whether it is right, the public half's images first (NULL for those evaluated before,
and for exercises). `copy_kind`: "exact"
(the same model, by fingerprint) or "near" (by predictions); `copy_agreement`: the share of
the hidden images on which the two predict the same class; `copy_confirmed`: the teacher
judged it a copy (it stays unranked; clearing ranks it).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("predictions", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("copy_kind", sa.String(10), nullable=True))
        batch.add_column(sa.Column("copy_agreement", sa.Float, nullable=True))
        batch.add_column(sa.Column("copy_confirmed", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.execute("update submissions set copy_kind = 'exact' where copy_of is not null")


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("copy_confirmed")
        batch.drop_column("copy_agreement")
        batch.drop_column("copy_kind")
        batch.drop_column("predictions")
