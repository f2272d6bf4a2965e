"""index for the statistics' counts by status and priority

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:30:00.000000

Open and completed tasks per priority are counted from this index alone, without reading the
tasks.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


# Not in batch mode: on SQLite a batch that recreated `tasks` would drop its triggers (0005, 0006).


def upgrade():
    op.create_index(
        'ix_tasks_user_id_completed_priority', 'tasks', ['user_id', 'completed', 'priority'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_tasks_user_id_completed_priority', table_name='tasks')
