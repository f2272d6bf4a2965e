"""API keys of service clients

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 00:28:51.234419

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CURRENT_KEY = sa.text('replaced_by_id IS NULL')


def upgrade():
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column(
            'scopes',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False,
        ),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('replaced_by_id', sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
        sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix')),
    )
    # One current key per name; keys replaced by a rotation keep their name.
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(
            'uq_api_keys_current_name',
            ['name'],
            unique=True,
            postgresql_where=CURRENT_KEY,
            sqlite_where=CURRENT_KEY,
        )


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index('uq_api_keys_current_name')
    op.drop_table('api_keys')
