"""an organisation's number fits Uruguay's RUT (21-100342-001-7, 15 characters)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only organisations hold it: people, families, guests and signatures keep a person's
    # number (Chile's RUT, Uruguay's cédula), which fits in 12.
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.alter_column('rut', existing_type=sa.String(length=12),
                              type_=sa.String(length=20), existing_nullable=True)


def downgrade() -> None:
    # A Uruguayan organisation's RUT does not fit back; a number cut short would read as
    # another one, so it is forgotten instead.
    op.execute(sa.text("UPDATE organizations SET rut = NULL WHERE length(rut) > 12"))
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.alter_column('rut', existing_type=sa.String(length=20),
                              type_=sa.String(length=12), existing_nullable=True)
