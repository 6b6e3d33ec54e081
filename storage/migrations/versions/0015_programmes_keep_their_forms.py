"""programmes keep the forms their template names

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
# 0014 is another branch's (many processes on one database); the merge chains this after it.
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Left empty for the rows already there: they keep offering what Convoca offered before
    # (domain.forms.LEGACY_FORM_USES), read from the shipped files.
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forms', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('forms')
