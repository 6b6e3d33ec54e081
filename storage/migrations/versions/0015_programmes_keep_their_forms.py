"""programmes keep the forms their template names

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
# 0014 is another branch's (many processes on one database); the merge chains this after it.
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What Convoca offered every programme before programmes kept their forms: /ficha, and the
# two forms its invitations' buttons open. Written out here, not imported, so that this
# migration keeps doing what it did when domain.forms.LEGACY_FORM_USES changes.
LEGACY_FORM_USES = (
    {'form': 'ficha_interes', 'command': 'ficha',
     'button': {'es': 'Ficha de interés', 'en': 'Interest form'}},
    {'form': 'compromiso_participacion', 'command': None, 'button': None},
    {'form': 'declaracion_compromiso', 'command': None, 'button': None},
)


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forms', sa.JSON(), nullable=True))
    _keep_forms(op.get_bind())


def _keep_forms(conn) -> None:
    """Each programme already there keeps the forms it offered, as the shipped files say
    them now, and its kept template names them (how each opens), as 0004 kept templates:
    from here on it never reads those files again. A form file that cannot be read stops the
    upgrade (domain.forms.FormError names the file): leaving it out would silently take a
    form away from every programme, for good."""
    from domain.forms import form_to_store, load_form

    forms = {use['form']: form_to_store(load_form(use['form'])) for use in LEGACY_FORM_USES}
    uses = list(LEGACY_FORM_USES)
    programs = sa.table('programs', sa.column('id', sa.Integer), sa.column('template', sa.Text),
                        sa.column('forms', sa.JSON))
    rows = conn.execute(sa.select(programs.c.id, programs.c.template)
                        .where(programs.c.forms.is_(None))).all()
    for program_id, template in rows:
        if template:
            kept = json.loads(template)
            # Kept before templates had a forms section: what it offered is the legacy list.
            if not kept.get('forms'):
                kept['forms'] = uses
            template = json.dumps(kept, ensure_ascii=False, sort_keys=True)
        conn.execute(programs.update().where(programs.c.id == program_id)
                     .values(forms=forms, template=template))


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('forms')
