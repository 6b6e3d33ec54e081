"""The programme on record: actas, agreed texts, diagnosis and priority matrix, plans and
their follow-up, the hand-over of goods; signatures with RUT; bodies' constitution session

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:18:16.721876
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('priority_criteria',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_priority_criteria_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_priority_criteria'))
    )
    with op.batch_alter_table('priority_criteria', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_priority_criteria_program_id'), ['program_id'], unique=False)

    op.create_table('agreed_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('body_id', sa.Integer(), nullable=True),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('superseded_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], name=op.f('fk_agreed_texts_body_id_bodies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_agreed_texts_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_agreed_texts_program_id_programs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['people.id'], name=op.f('fk_agreed_texts_recorded_by_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreed_texts'))
    )
    with op.batch_alter_table('agreed_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreed_texts_program_id'), ['program_id'], unique=False)

    op.create_table('diagnosis_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=12), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_diagnosis_entries_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_diagnosis_entries_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis_entries'))
    )
    with op.batch_alter_table('diagnosis_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_diagnosis_entries_program_id'), ['program_id'], unique=False)

    op.create_table('handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('handed_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_handovers_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_handovers_organization_id_organizations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_handovers_program_id_programs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['people.id'], name=op.f('fk_handovers_recorded_by_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handovers'))
    )
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handovers_program_id'), ['program_id'], unique=False)

    op.create_table('minutes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_minutes_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_minutes_program_id_programs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['people.id'], name=op.f('fk_minutes_recorded_by_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_minutes')),
    sa.UniqueConstraint('meeting_id', name=op.f('uq_minutes_meeting_id'))
    )
    with op.batch_alter_table('minutes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_minutes_program_id'), ['program_id'], unique=False)

    op.create_table('plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('body_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_meeting_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_meeting_id'], ['meetings.id'], name=op.f('fk_plans_approved_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], name=op.f('fk_plans_body_id_bodies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_plans_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans')),
    sa.UniqueConstraint('program_id', 'kind', name=op.f('uq_plans_program_id'))
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_program_id'), ['program_id'], unique=False)

    op.create_table('handover_goods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handover_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_value', sa.Integer(), nullable=True),
    sa.Column('condition', sa.String(length=120), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['handover_id'], ['handovers.id'], name=op.f('fk_handover_goods_handover_id_handovers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handover_goods'))
    )
    with op.batch_alter_table('handover_goods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handover_goods_handover_id'), ['handover_id'], unique=False)

    op.create_table('minutes_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('minutes_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['minutes_id'], ['minutes.id'], name=op.f('fk_minutes_items_minutes_id_minutes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_minutes_items'))
    )
    with op.batch_alter_table('minutes_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_minutes_items_minutes_id'), ['minutes_id'], unique=False)

    op.create_table('plan_objectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_objectives_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_objectives'))
    )
    with op.batch_alter_table('plan_objectives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_objectives_plan_id'), ['plan_id'], unique=False)

    op.create_table('priority_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['criterion_id'], ['priority_criteria.id'], name=op.f('fk_priority_scores_criterion_id_priority_criteria'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['diagnosis_entries.id'], name=op.f('fk_priority_scores_entry_id_diagnosis_entries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_priority_scores_meeting_id_meetings'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_priority_scores')),
    sa.UniqueConstraint('entry_id', 'criterion_id', name=op.f('uq_priority_scores_entry_id'))
    )
    with op.batch_alter_table('priority_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_priority_scores_entry_id'), ['entry_id'], unique=False)

    op.create_table('action_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('objective_id', sa.Integer(), nullable=True),
    sa.Column('minutes_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('expected_result', sa.Text(), nullable=True),
    sa.Column('requirements', sa.Text(), nullable=True),
    sa.Column('alliance', sa.Boolean(), nullable=True),
    sa.Column('alliance_with', sa.String(length=300), nullable=True),
    sa.Column('responsible_person_id', sa.Integer(), nullable=True),
    sa.Column('responsible_name', sa.String(length=200), nullable=True),
    sa.Column('starts', sa.Date(), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['people.id'], name=op.f('fk_action_items_created_by_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['minutes_id'], ['minutes.id'], name=op.f('fk_action_items_minutes_id_minutes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['objective_id'], ['plan_objectives.id'], name=op.f('fk_action_items_objective_id_plan_objectives'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_action_items_plan_id_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_action_items_program_id_programs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responsible_person_id'], ['people.id'], name=op.f('fk_action_items_responsible_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_items'))
    )
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_items_due'), ['due'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_items_minutes_id'), ['minutes_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_items_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_items_program_id'), ['program_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_items_responsible_person_id'), ['responsible_person_id'], unique=False)

    op.create_table('action_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('photo', sa.JSON(), nullable=True),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_person_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['action_items.id'], name=op.f('fk_action_updates_action_id_action_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['by_person_id'], ['people.id'], name=op.f('fk_action_updates_by_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_updates'))
    )
    with op.batch_alter_table('action_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_updates_action_id'), ['action_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_updates_at'), ['at'], unique=False)

    # Columns added in place (batch mode would rebuild the tables and what cascades from
    # them), as in 0011.
    op.add_column('bodies', sa.Column('constitution_meeting_id', sa.Integer(), nullable=True))

    op.add_column('form_signatures', sa.Column('signed_rut', sa.String(length=12),
                                               nullable=True))



def downgrade() -> None:
    op.drop_column('form_signatures', 'signed_rut')

    op.drop_column('bodies', 'constitution_meeting_id')

    with op.batch_alter_table('action_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_updates_at'))
        batch_op.drop_index(batch_op.f('ix_action_updates_action_id'))

    op.drop_table('action_updates')
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_items_responsible_person_id'))
        batch_op.drop_index(batch_op.f('ix_action_items_program_id'))
        batch_op.drop_index(batch_op.f('ix_action_items_plan_id'))
        batch_op.drop_index(batch_op.f('ix_action_items_minutes_id'))
        batch_op.drop_index(batch_op.f('ix_action_items_due'))

    op.drop_table('action_items')
    with op.batch_alter_table('priority_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_priority_scores_entry_id'))

    op.drop_table('priority_scores')
    with op.batch_alter_table('plan_objectives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_objectives_plan_id'))

    op.drop_table('plan_objectives')
    with op.batch_alter_table('minutes_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_minutes_items_minutes_id'))

    op.drop_table('minutes_items')
    with op.batch_alter_table('handover_goods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handover_goods_handover_id'))

    op.drop_table('handover_goods')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_program_id'))

    op.drop_table('plans')
    with op.batch_alter_table('minutes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_minutes_program_id'))

    op.drop_table('minutes')
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handovers_program_id'))

    op.drop_table('handovers')
    with op.batch_alter_table('diagnosis_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_diagnosis_entries_program_id'))

    op.drop_table('diagnosis_entries')
    with op.batch_alter_table('agreed_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreed_texts_program_id'))

    op.drop_table('agreed_texts')
    with op.batch_alter_table('priority_criteria', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_priority_criteria_program_id'))

    op.drop_table('priority_criteria')
