"""fichas reach the programme

Every form response knows its programme, so a ficha sent by someone whose organisation is
not in the catastro yet still reaches that programme's gestora. Organisation kinds written
in words or as older codes become the codes of the closed list.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('form_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('program_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_form_responses_program_id'), ['program_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_form_responses_program_id_programs'),
                                    'programs', ['program_id'], ['id'], ondelete='SET NULL')
    op.execute(
        "UPDATE form_responses SET program_id = (SELECT organizations.program_id FROM "
        "organizations WHERE organizations.id = form_responses.organization_id) "
        "WHERE organization_id IS NOT NULL")
    op.execute(
        "UPDATE form_responses SET program_id = (SELECT people.program_id FROM people "
        "WHERE people.id = form_responses.person_id) "
        "WHERE program_id IS NULL AND person_id IS NOT NULL")
    # Someone no programme knew yet answered for the newest one, as Convoca assumes today.
    op.execute("UPDATE form_responses SET program_id = (SELECT max(id) FROM programs) "
               "WHERE program_id IS NULL")

    from domain.org_kinds import kind_code

    conn = op.get_bind()
    orgs = sa.table('organizations', sa.column('id', sa.Integer), sa.column('kind', sa.String))
    for org_id, kind in conn.execute(sa.select(orgs.c.id, orgs.c.kind)
                                     .where(orgs.c.kind.is_not(None))).all():
        code = kind_code(kind, exact=True)
        # A kind that fits none of the list is kept as it was typed: it is shown as such.
        if code is not None and code != kind:
            conn.execute(orgs.update().where(orgs.c.id == org_id).values(kind=code))


def downgrade() -> None:
    with op.batch_alter_table('form_responses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_form_responses_program_id_programs'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_form_responses_program_id'))
        batch_op.drop_column('program_id')
