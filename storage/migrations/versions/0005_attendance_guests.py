"""attendance guests: walk-ins who are not in Convoca

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import storage.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attendance_guests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('rut', sa.String(length=12), nullable=True),
    sa.Column('organization', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('added_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_attendance_guests_meeting_id_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_guests'))
    )
    with op.batch_alter_table('attendance_guests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_guests_meeting_id'), ['meeting_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attendance_guests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_guests_meeting_id'))

    op.drop_table('attendance_guests')
