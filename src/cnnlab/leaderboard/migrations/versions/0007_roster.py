"""A roster: students known by their student id (two may share a name), with an email, who can
be disabled; admins (the teacher's token).

`users.name` is no longer unique; `users.student_id` is (NULL for a user added by name alone);
`users.email`; `users.disabled`: the token is refused and the rows leave the ranking;
`users.admin`.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# SQLite's copy of the table names the unnamed UNIQUE of 0001 by this convention, so that it
# can be dropped; PostgreSQL named it itself.
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _name_unique(bind) -> str:
    return "users_name_key" if bind.dialect.name == "postgresql" else "uq_users_name"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("users", naming_convention=_CONVENTION) as batch:
        batch.drop_constraint(_name_unique(bind), type_="unique")
        batch.add_column(sa.Column("student_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("disabled", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("admin", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.create_unique_constraint("uq_users_student_id", ["student_id"])


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("users", naming_convention=_CONVENTION) as batch:
        batch.drop_constraint("uq_users_student_id", type_="unique")
        batch.drop_column("admin")
        batch.drop_column("disabled")
        batch.drop_column("email")
        batch.drop_column("student_id")
        batch.create_unique_constraint(_name_unique(bind), ["name"])
