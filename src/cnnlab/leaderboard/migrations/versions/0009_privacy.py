"""Privacy: a submission is named in URLs by a random key, never by its number; signed-in
sessions of the pages.

`submissions.key`: 128 random bits, URL-safe (the submissions made before get theirs here).
`sessions`: a page's sign-in, by the SHA-256 of its cookie, with the CSRF token of its forms
and the hash of the user's token when they signed in (a reset token ends the session).

Revision ID: 0009
Revises: 0008
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("key", sa.String(32), nullable=True))
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("select id from submissions"))]
    for number in ids:
        bind.execute(sa.text("update submissions set key = :key where id = :id"),
                     {"key": secrets.token_urlsafe(16), "id": number})
    with op.batch_alter_table("submissions") as batch:
        batch.alter_column("key", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_submissions_key", ["key"])
    op.create_table(
        "sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False,
                  index=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sessions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_constraint("uq_submissions_key", type_="unique")
        batch.drop_column("key")
