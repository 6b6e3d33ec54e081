"""roles ADMIN_TELEGRAM_IDS gave are marked as the list's; handled updates kept for a window

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('via', sa.String(length=16), nullable=True))
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_updates_processed_at'), ['processed_at'],
                              unique=False)
    _mark_the_lists_grants(op.get_bind())


def _mark_the_lists_grants(conn) -> None:
    """A gestora role given by nobody (granted_by empty) and never audited as granted was
    given by ADMIN_TELEGRAM_IDS: `convoca admin add`, `convoca role grant` and the panel have
    always written a role_granted entry. Where an entry covers it, or may (one given before
    any programme existed covers all of that person's), the role stays an explicit one."""
    grants = sa.table('role_grants', sa.column('id', sa.Integer), sa.column('person_id'),
                      sa.column('program_id'), sa.column('role'), sa.column('granted_by'),
                      sa.column('via', sa.String))
    audit = sa.table('audit_log', sa.column('action'), sa.column('entity'),
                     sa.column('entity_id'), sa.column('details', sa.JSON))
    explicit: set[tuple[int, int | None]] = set()
    for person_id, details in conn.execute(
            sa.select(audit.c.entity_id, audit.c.details)
            .where(audit.c.action == 'role_granted', audit.c.entity == 'person')):
        if isinstance(details, dict) and details.get('role') == 'gestora':
            explicit.add((person_id, details.get('program_id')))
    listed = [
        grant_id for grant_id, person_id, program_id in conn.execute(
            sa.select(grants.c.id, grants.c.person_id, grants.c.program_id)
            .where(grants.c.role == 'gestora', grants.c.granted_by.is_(None)))
        if (person_id, program_id) not in explicit and (person_id, None) not in explicit
    ]
    for start in range(0, len(listed), 500):
        conn.execute(grants.update().where(grants.c.id.in_(listed[start:start + 500]))
                     .values(via='admin_list'))


def downgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_updates_processed_at'))
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.drop_column('via')
