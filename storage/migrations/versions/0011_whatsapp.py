"""WhatsApp: receipts of sent messages, templates, paper consent, unreachable addresses

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('platform_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'],
                            name=op.f('fk_platform_messages_outbox_id_outbox'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_messages')),
    sa.UniqueConstraint('channel', 'platform_id', name=op.f('uq_platform_messages_channel'))
    )
    with op.batch_alter_table('platform_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_messages_outbox_id'), ['outbox_id'],
                              unique=False)
    op.create_table('wa_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('platform_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('synced_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wa_templates')),
    sa.UniqueConstraint('name', 'language', name=op.f('uq_wa_templates_name'))
    )
    # Columns added, none dropped or changed: SQLite adds them in place (batch mode would
    # rebuild the tables, and with them every table whose rows cascade from people).
    op.add_column('outbox', sa.Column('receipt', sa.String(length=12), nullable=True))
    op.add_column('outbox', sa.Column('receipt_at', storage.models.UTCDateTime(timezone=True),
                                      nullable=True))
    op.add_column('people', sa.Column('contact_consent_at',
                                      storage.models.UTCDateTime(timezone=True), nullable=True))
    op.add_column('people', sa.Column('contact_consent_source', sa.String(length=40),
                                      nullable=True))
    op.add_column('people', sa.Column('phone_vouched', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.add_column('channel_addresses', sa.Column('unreachable_reason', sa.String(length=200),
                                                 nullable=True))
    op.add_column('channel_addresses', sa.Column('unreachable_at',
                                                 storage.models.UTCDateTime(timezone=True),
                                                 nullable=True))


def downgrade() -> None:
    # A row waiting for its person has no status to wait in before this revision: it goes
    # back to the queue, where the channel decides again.
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'waiting'")
    # Dropped in place (SQLite 3.35+ can): a batch rebuild of people would cascade into
    # every table that refers to it, channel addresses and conversations included.
    for table, column in (('channel_addresses', 'unreachable_at'),
                          ('channel_addresses', 'unreachable_reason'),
                          ('people', 'phone_vouched'),
                          ('people', 'contact_consent_source'),
                          ('people', 'contact_consent_at'),
                          ('outbox', 'receipt_at'), ('outbox', 'receipt')):
        op.drop_column(table, column)
    op.drop_table('wa_templates')
    with op.batch_alter_table('platform_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_messages_outbox_id'))
    op.drop_table('platform_messages')
