"""campaign, campaign_recipient (holdout split, exactly-once sends), promo_redemption (codes used at the
till: redeemed / already_redeemed / expired / foreign), merchant_clock (the sandbox's test clock)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import db.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('campaign',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('merchant_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('audience_snapshot', sa.JSON(), nullable=True),
    sa.Column('holdout_pct', sa.Float(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('send_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('salt', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('approved_version', sa.Integer(), nullable=True),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approved_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('automatic_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('estimate', sa.JSON(), nullable=False),
    sa.Column('started_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('locked_until', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'automatic_key', name='uq_campaign_automatic')
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_status'), ['status'], unique=False)

    op.create_table('merchant_clock',
    sa.Column('merchant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('now', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], ),
    sa.PrimaryKeyConstraint('merchant_id')
    )
    op.create_table('campaign_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('offer_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('planned_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'customer_id', name='uq_recipient_campaign_customer')
    )
    with op.batch_alter_table('campaign_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_recipient_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_recipient_campaign_status', ['campaign_id', 'status'], unique=False)

    op.create_table('promo_redemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('promo_code_id', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('occurred_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], ),
    sa.ForeignKeyConstraint(['promo_code_id'], ['promo_code.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['pos_transaction.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('transaction_id', 'code', name='uq_redemption_txn_code')
    )
    with op.batch_alter_table('promo_redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promo_redemption_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promo_redemption_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promo_redemption_promo_code_id'), ['promo_code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promo_redemption_transaction_id'), ['transaction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('promo_redemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promo_redemption_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_promo_redemption_promo_code_id'))
        batch_op.drop_index(batch_op.f('ix_promo_redemption_merchant_id'))
        batch_op.drop_index(batch_op.f('ix_promo_redemption_customer_id'))

    op.drop_table('promo_redemption')
    with op.batch_alter_table('campaign_recipient', schema=None) as batch_op:
        batch_op.drop_index('ix_recipient_campaign_status')
        batch_op.drop_index(batch_op.f('ix_campaign_recipient_customer_id'))

    op.drop_table('campaign_recipient')
    op.drop_table('merchant_clock')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_status'))
        batch_op.drop_index(batch_op.f('ix_campaign_merchant_id'))

    op.drop_table('campaign')
