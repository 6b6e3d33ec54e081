"""programmes keep their template

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.Text(), nullable=True))
    _keep_templates(op.get_bind())


def _keep_templates(conn) -> None:
    """Each programme keeps the content of its shipped template. A programme made from a
    file elsewhere cannot be recovered here (that file was never kept): it stays empty and
    is read by its key, as before."""
    from storage.program_templates import TemplateError, load_template, template_to_store

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


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('template')
