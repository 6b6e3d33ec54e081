"""wrong codes counted, to slow down guessing them

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('code_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('who', sa.String(length=64), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_attempts'))
    )
    with op.batch_alter_table('code_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_attempts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_code_attempts_who'), ['who'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('code_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_attempts_who'))
        batch_op.drop_index(batch_op.f('ix_code_attempts_at'))
    op.drop_table('code_attempts')
