"""campaign planning in the background: plan_attempts and plan_error (statuses planning, planning_failed)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('plan_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('plan_error')
        batch_op.drop_column('plan_attempts')
