"""an intake of incoming updates; platform message references as strings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('intake',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.Column('received_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake')),
    sa.UniqueConstraint('channel', 'key', name=op.f('uq_intake_channel'))
    )
    with op.batch_alter_table('intake', schema=None) as batch_op:
        batch_op.create_index('ix_intake_address', ['channel', 'address', 'id'], unique=False)
        batch_op.create_index('ix_intake_pending', ['handled_at', 'id'], unique=False)
    # The updates handled lately stay known as handled: offered again, they are not new.
    op.execute(
        "INSERT INTO intake (channel, key, address, payload, event, received_at, handled_at) "
        "SELECT channel, CAST(update_id AS VARCHAR(128)), '', '{}', '{}', processed_at, "
        "processed_at FROM processed_updates")
    op.drop_table('processed_updates')
    with op.batch_alter_table('channel_addresses', schema=None) as batch_op:
        batch_op.alter_column('last_inbound_message_id', existing_type=sa.BigInteger(),
                              type_=sa.String(length=64), existing_nullable=True,
                              postgresql_using='last_inbound_message_id::varchar')


def downgrade() -> None:
    # A reference that is no number (another channel's) has no place in the old column.
    op.execute("UPDATE channel_addresses SET last_inbound_message_id = NULL "
               "WHERE last_inbound_message_id IS NOT NULL AND channel <> 'telegram'")
    with op.batch_alter_table('channel_addresses', schema=None) as batch_op:
        batch_op.alter_column('last_inbound_message_id', existing_type=sa.String(length=64),
                              type_=sa.BigInteger(), existing_nullable=True,
                              postgresql_using='last_inbound_message_id::bigint')
    op.create_table('processed_updates',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('processed_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'update_id', name=op.f('pk_processed_updates'))
    )
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_updates_processed_at'), ['processed_at'],
                              unique=False)
    op.execute(
        "INSERT INTO processed_updates (channel, update_id, processed_at) "
        "SELECT channel, CAST(key AS BIGINT), handled_at FROM intake "
        "WHERE channel = 'telegram' AND handled_at IS NOT NULL")
    with op.batch_alter_table('intake', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_pending')
        batch_op.drop_index('ix_intake_address')
    op.drop_table('intake')
