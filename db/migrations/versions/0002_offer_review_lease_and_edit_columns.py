"""offer: review lease (reviewing_until, review_locked_by), marketer edit mark, stored expiry days

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:53:49.312191
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import db.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_in_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by_marketer', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('review_locked_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('reviewing_until', db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.drop_column('reviewing_until')
        batch_op.drop_column('review_locked_by')
        batch_op.drop_column('reviewed_by_marketer')
        batch_op.drop_column('expires_in_days')
