"""a pickup remembers the day its family was moved to

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('pickups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moved_to_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_pickups_moved_to_id_pickups'), 'pickups',
                                    ['moved_to_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('pickups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_pickups_moved_to_id_pickups'),
                                 type_='foreignkey')
        batch_op.drop_column('moved_to_id')
