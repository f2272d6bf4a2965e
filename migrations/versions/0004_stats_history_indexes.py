"""indexes for statistics and history; per-user sequence number of history entries

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22 00:31:08.898781

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))

    # Number the entries already written: 1, 2, 3 … per user, in id order.
    op.execute(
        "UPDATE history SET seq = numbered.seq FROM ("
        " SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS seq FROM history"
        ") AS numbered WHERE history.id = numbered.id"
    )

    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False)
        batch_op.create_index('ix_history_user_id_action_id', ['user_id', 'action', 'id'], unique=False)
        batch_op.create_index('uq_history_user_id_seq', ['user_id', 'seq'], unique=True)

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_user_id_completed_at', ['user_id', 'completed_at'], unique=False, postgresql_where=sa.text('completed'), sqlite_where=sa.text('completed = 1'))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_user_id_completed_at', postgresql_where=sa.text('completed'), sqlite_where=sa.text('completed = 1'))

    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_index('uq_history_user_id_seq')
        batch_op.drop_index('ix_history_user_id_action_id')
        batch_op.drop_column('seq')
