"""Exercise tasks grade every file on the same hidden cases, drawn from the task's seed, which
must then be secret: tasks made before had the public split seed (2024) there, so each
exercise task gets a random one here.

Revision ID: 0011
Revises: 0010
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for (task_id,) in bind.execute(sa.text("select id from tasks where exercise is not null")):
        bind.execute(sa.text("update tasks set seed = :seed where id = :id"),
                     {"seed": secrets.randbelow(2**31), "id": task_id})


def downgrade() -> None:
    pass  # the old seeds were public; nothing to go back to
