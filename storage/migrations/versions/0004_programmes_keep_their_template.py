"""programmes keep their template; roles per programme; a person's chosen programme

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.Text(), nullable=True))
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chosen_program_id', sa.Integer(), nullable=True))
    conn = op.get_bind()
    _keep_templates(conn)
    _grants_per_programme(conn)


def _keep_templates(conn) -> None:
    """Each programme keeps the content of its shipped template. A programme made from a
    file elsewhere cannot be recovered here (that file was never kept): it stays empty and
    is read by its key, as before."""
    from domain.program_templates import TemplateError, load_template, template_to_store

    programs = sa.table('programs', sa.column('id', sa.Integer), sa.column('template_key'),
                        sa.column('template', sa.Text))
    for key in conn.execute(sa.select(programs.c.template_key).distinct()).scalars().all():
        try:
            kept = template_to_store(load_template(key))
        except (TemplateError, OSError):
            continue
        conn.execute(programs.update().where(programs.c.template_key == key,
                                             programs.c.template.is_(None))
                     .values(template=kept))


def _grants_per_programme(conn) -> None:
    """A role given with no programme (`convoca admin add`, ADMIN_TELEGRAM_IDS) counted in
    every programme: it becomes the same role in each programme there is. With none yet it
    stays, and the first programme made takes it."""
    ids = conn.execute(sa.text('SELECT id FROM programs ORDER BY id')).scalars().all()
    if not ids:
        return
    grants = conn.execute(sa.text(
        'SELECT person_id, role, granted_at, granted_by FROM role_grants '
        'WHERE program_id IS NULL')).all()
    for person_id, role, granted_at, granted_by in grants:
        for program_id in ids:
            held = conn.execute(sa.text(
                'SELECT 1 FROM role_grants WHERE person_id = :p AND role = :r '
                'AND program_id = :g'), {'p': person_id, 'r': role, 'g': program_id}).first()
            if held is None:
                conn.execute(sa.text(
                    'INSERT INTO role_grants (person_id, program_id, role, granted_at, '
                    'granted_by) VALUES (:p, :g, :r, :at, :by)'),
                    {'p': person_id, 'g': program_id, 'r': role, 'at': granted_at,
                     'by': granted_by})
    conn.execute(sa.text('DELETE FROM role_grants WHERE program_id IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('chosen_program_id')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('template')
