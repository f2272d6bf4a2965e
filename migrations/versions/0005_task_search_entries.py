"""task search entries: one B-tree row per word and per tag of each task, kept by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:30:00.000000

PostgreSQL only (SQLite filters the tasks themselves). `task_words` and `task_tags` replace the
generated `search_vector` and `tag_keys` columns and their GIN indexes: a GIN index cannot answer
without visiting every matching task, so counting a common word's matches (the exact `total`
of a page) read thousands of table pages. Their B-tree keys (owner, word or tag, task) answer
from the index alone.

Triggers on `tasks` keep them exact in the transaction of each change, whoever writes (the API,
bulk seeding, a user's deletion, SQL by hand). PostgreSQL runs them once per statement over the
statement's rows (a bulk insert of 10,000 tasks is one insert of their words); an update
touches only the entries of the tasks whose words or tags changed, and only the entries that
differ. The upgrade fills them from the existing tasks.

Frequent autovacuum: an index-only scan reads the table for the entries of pages not yet marked
all-visible, so new entries must not wait for a fifth of the table to change (the default).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: Must stay equal to taskapi.models.task_search.MAX_WORD_LENGTH.
MAX_WORD_LENGTH = 500

#: The words of a title and description: runs of letters and digits, lower-cased, distinct,
#: cut to MAX_WORD_LENGTH; as taskapi.services.task_filters.search_words splits them.
WORDS_FUNCTION = f"""
CREATE FUNCTION task_search_words(title text, description text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT DISTINCT left(word, {MAX_WORD_LENGTH})
    FROM regexp_split_to_table(lower(title || ' ' || coalesce(description, '')), '[^[:alnum:]]+')
        AS word
    WHERE word <> ''
$$
"""
#: The tags of a task's JSON array, lower-cased, distinct.
TAGS_FUNCTION = """
CREATE FUNCTION task_search_tags(tags jsonb) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT DISTINCT lower(tag) FROM jsonb_array_elements_text(tags) AS tag
$$
"""

#: Per table: its term column, the task columns the terms come from, and the terms of a task.
ENTRIES = {
    'task_words': ('word', ('title', 'description'), 'task_search_words(task.title, task.description)'),
    'task_tags': ('tag', ('tags',), 'task_search_tags(task.tags)'),
}
AUTOVACUUM = (
    'autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01, '
    'autovacuum_analyze_scale_factor = 0.02'
)
#: The rows each trigger sees: the statement's inserted, updated (before and after) or deleted tasks.
TRANSITION_TABLES = {
    'INSERT': 'NEW TABLE AS new_tasks',
    'UPDATE': 'OLD TABLE AS old_tasks NEW TABLE AS new_tasks',
    'DELETE': 'OLD TABLE AS old_tasks',
}
TRIGGERS = {operation: f'task_search_after_{operation.lower()}' for operation in TRANSITION_TABLES}


def _entries(table, tasks):
    """(user_id, term, task_id) for each term of each task of `tasks`."""
    _term, _columns, terms = ENTRIES[table]
    return (
        f'SELECT task.user_id, term.term, task.id FROM {tasks} AS task '
        f'CROSS JOIN {terms} AS term(term)'
    )


def _changed(table, side):
    """The `side` ('old' or 'new') versions of the updated tasks whose terms may differ."""
    _term, columns, _terms = ENTRIES[table]
    compared = ', '.join(f'{{0}}.{column}' for column in ('user_id', *columns))
    # Not `old` and `new`: in PL/pgSQL those name the trigger's row variables.
    return (
        f'(SELECT {side}_task.* FROM old_tasks AS old_task '
        'JOIN new_tasks AS new_task ON new_task.id = old_task.id '
        f'WHERE ({compared.format("old_task")}) IS DISTINCT FROM ({compared.format("new_task")}))'
    )


def _add(table, entries):
    term = ENTRIES[table][0]
    return f'INSERT INTO {table} (user_id, {term}, task_id) {entries}'


def _remove(table, entries):
    term = ENTRIES[table][0]
    return (
        f'DELETE FROM {table} AS entry USING ({entries}) AS gone (user_id, term, task_id) '
        f'WHERE entry.user_id = gone.user_id AND entry.{term} = gone.term '
        'AND entry.task_id = gone.task_id'
    )


def _statements(operation):
    statements = []
    for table in ENTRIES:
        if operation == 'INSERT':
            statements.append(_add(table, _entries(table, 'new_tasks')))
        elif operation == 'DELETE':
            statements.append(_remove(table, _entries(table, 'old_tasks')))
        else:
            old = _entries(table, _changed(table, 'old'))
            new = _entries(table, _changed(table, 'new'))
            statements.append(_remove(table, f'{old} EXCEPT {new}'))
            statements.append(_add(table, f'{new} EXCEPT {old}'))
    return statements


def _follow_function():
    branches = ''.join(
        f"    {'IF' if index == 0 else 'ELSIF'} TG_OP = '{operation}' THEN\n"
        + ''.join(f'        {statement};\n' for statement in _statements(operation))
        for index, operation in enumerate(TRIGGERS)
    )
    return (
        'CREATE FUNCTION task_search_follow_tasks() RETURNS trigger LANGUAGE plpgsql AS $$\n'
        f'BEGIN\n{branches}    END IF;\n    RETURN NULL;\nEND\n$$'
    )


TRUNCATE_FUNCTION = """
CREATE FUNCTION task_search_follow_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE task_words, task_tags;
    RETURN NULL;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    # Filling the entries of a large table takes longer than the app's statement timeout.
    op.execute('SET LOCAL statement_timeout = 0')
    for table, (term, _columns, _terms) in ENTRIES.items():
        # The key is added once the entries are in: one index build instead of many inserts.
        op.execute(
            f'CREATE TABLE {table} (user_id uuid NOT NULL, {term} text COLLATE "C" NOT NULL, '
            f'task_id uuid NOT NULL) WITH ({AUTOVACUUM})'
        )
    op.execute(WORDS_FUNCTION)
    op.execute(TAGS_FUNCTION)
    op.execute(_follow_function())
    op.execute(TRUNCATE_FUNCTION)
    # The triggers lock `tasks` against writes until this transaction commits: nothing changes
    # between the filling below and the first trigger.
    for operation, name in TRIGGERS.items():
        op.execute(
            f'CREATE TRIGGER {name} AFTER {operation} ON tasks '
            f'REFERENCING {TRANSITION_TABLES[operation]} '
            'FOR EACH STATEMENT EXECUTE FUNCTION task_search_follow_tasks()'
        )
    op.execute(
        'CREATE TRIGGER task_search_after_truncate AFTER TRUNCATE ON tasks '
        'FOR EACH STATEMENT EXECUTE FUNCTION task_search_follow_truncate()'
    )
    for table, (term, _columns, _terms) in ENTRIES.items():
        op.execute(_add(table, _entries(table, 'tasks')))
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (user_id, {term}, task_id)')

    op.drop_index('ix_tasks_tag_keys', table_name='tasks')
    op.drop_index('ix_tasks_search_vector', table_name='tasks')
    op.drop_column('tasks', 'tag_keys')
    op.drop_column('tasks', 'search_vector')
    op.execute('DROP FUNCTION task_tag_keys(uuid, jsonb)')


# What 0002 created, for the downgrade.
SEARCH_VECTOR_SQL = (
    "to_tsvector('simple'::regconfig, regexp_replace(regexp_replace("
    "lower(title || ' ' || coalesce(description, '')), '[^[:alnum:]]+', ' ', 'g'), "
    "'[[:alnum:]]+', 'u' || left(md5(user_id::text), 8) || '\\&', 'g'))"
)
TAG_KEYS_FUNCTION = """
CREATE FUNCTION task_tag_keys(owner uuid, tags jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg('u' || left(md5(owner::text), 8) || lower(tag)), '{}')
    FROM jsonb_array_elements_text(tags) AS tag
$$
"""


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('SET LOCAL statement_timeout = 0')
    op.execute(TAG_KEYS_FUNCTION)
    op.add_column('tasks', sa.Column(
        'search_vector', postgresql.TSVECTOR(),
        sa.Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True,
    ))
    op.add_column('tasks', sa.Column(
        'tag_keys', postgresql.ARRAY(sa.Text()),
        sa.Computed('task_tag_keys(user_id, tags)', persisted=True), nullable=True,
    ))
    op.create_index('ix_tasks_search_vector', 'tasks', ['search_vector'], postgresql_using='gin')
    op.create_index('ix_tasks_tag_keys', 'tasks', ['tag_keys'], postgresql_using='gin')

    op.execute('DROP TRIGGER task_search_after_truncate ON tasks')
    for name in TRIGGERS.values():
        op.execute(f'DROP TRIGGER {name} ON tasks')
    op.execute('DROP FUNCTION task_search_follow_truncate()')
    op.execute('DROP FUNCTION task_search_follow_tasks()')
    op.execute('DROP FUNCTION task_search_tags(jsonb)')
    op.execute('DROP FUNCTION task_search_words(text, text)')
    for table in ENTRIES:
        op.drop_table(table)
