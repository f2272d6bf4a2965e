"""task search: generated search and tag columns, indexes for every listing order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:40:00.000000

On PostgreSQL: `search_vector` (the words of title and description) and `tag_keys` (the tags,
lower-cased) are generated columns with GIN indexes. Their entries carry the owner's key, so a
search or a tag filter reads only the caller's entries, however large the table. On SQLite these columns do not exist: the app
matches words and tags with SQL functions it registers on each connection.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The words of title and description (runs of letters and digits, lower-cased), each behind
# its owner's key ("u" + 8 hex digits of md5(user_id)) so a prefix search reads only the owner's
# entries of the GIN index. Migration 0005 replaces both columns with the task_words and
# task_tags tables.
SEARCH_VECTOR_SQL = (
    "to_tsvector('simple'::regconfig, regexp_replace(regexp_replace("
    "lower(title || ' ' || coalesce(description, '')), '[^[:alnum:]]+', ' ', 'g'), "
    "'[[:alnum:]]+', 'u' || left(md5(user_id::text), 8) || '\\&', 'g'))"
)
# The tags lower-cased, each behind the owner's key.
TAG_KEYS_SQL = "task_tag_keys(user_id, tags)"
TAG_KEYS_FUNCTION = """
CREATE FUNCTION task_tag_keys(owner uuid, tags jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg('u' || left(md5(owner::text), 8) || lower(tag)), '{}')
    FROM jsonb_array_elements_text(tags) AS tag
$$
"""

#: B-tree indexes for the listing orders, on both engines.
ORDER_INDEXES = (
    ('ix_tasks_user_id_updated_at_id', ['user_id', 'updated_at', 'id']),
    ('ix_tasks_user_id_priority_id', ['user_id', 'priority', 'id']),
    ('ix_tasks_user_id_title_id', ['user_id', 'title', 'id']),
    ('ix_tasks_user_id_due_date_id', ['user_id', 'due_date', 'id']),
)


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name, columns in ORDER_INDEXES:
            batch_op.create_index(name, columns, unique=False)

    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(TAG_KEYS_FUNCTION)
    op.add_column('tasks', sa.Column(
        'search_vector', postgresql.TSVECTOR(),
        sa.Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True,
    ))
    op.add_column('tasks', sa.Column(
        'tag_keys', postgresql.ARRAY(sa.Text()),
        sa.Computed(TAG_KEYS_SQL, persisted=True), nullable=True,
    ))
    # due_date descending with tasks without one still last: the other direction's index.
    op.create_index(
        'ix_tasks_user_id_due_date_desc_id', 'tasks',
        ['user_id', sa.desc(sa.column('due_date')).nulls_last(), sa.desc(sa.column('id'))],
    )
    op.create_index(
        'ix_tasks_user_id_open_due_date', 'tasks', ['user_id', 'due_date'],
        postgresql_where=sa.text('completed = false'),
    )
    op.create_index(
        'ix_tasks_search_vector', 'tasks', ['search_vector'], postgresql_using='gin',
    )
    op.create_index('ix_tasks_tag_keys', 'tasks', ['tag_keys'], postgresql_using='gin')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in (
            'ix_tasks_tag_keys',
            'ix_tasks_search_vector',
            'ix_tasks_user_id_open_due_date',
            'ix_tasks_user_id_due_date_desc_id',
        ):
            op.drop_index(name, table_name='tasks')
        op.drop_column('tasks', 'tag_keys')
        op.drop_column('tasks', 'search_vector')
        op.execute('DROP FUNCTION task_tag_keys(uuid, jsonb)')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name, _columns in reversed(ORDER_INDEXES):
            batch_op.drop_index(name)
