"""tag counts per user, kept by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:00:00.000000

`tag_counts` holds, per user and lower-cased tag, how many of the user's open and completed
tasks carry the tag: the statistics' top tags read a few rows instead of every tag of every
task. Triggers on `tasks` keep it exact in the transaction of each change, whoever writes (the
API, bulk seeding, a user's deletion, SQL by hand), and the upgrade counts the existing tasks.

Each change adds its tags' differences with one upsert (concurrent writers add up), skips the
tags whose counts it does not change (most edits touch neither tags nor completion), and
deletes the rows it brings to zero. PostgreSQL runs it once per statement over the statement's
rows (a bulk insert of 50,000 tasks is one upsert, not 50,000 updates of the same rows); SQLite
has only row triggers. On SQLite `lower()` is the app's Unicode version (registered on each
connection): the tags are folded as PostgreSQL folds them. A batch migration that recreates
`tasks` on SQLite drops its triggers: it must create them again (TRIGGERS below).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: The elements of a task's JSON array of tags, as rows with a `value` column.
ELEMENTS = {
    'postgresql': 'jsonb_array_elements_text(task.tags) AS element(value)',
    'sqlite': 'json_each(task.tags) AS element',
}


def _row(side):
    return f'(SELECT {side}.user_id AS user_id, {side}.completed AS completed, {side}.tags AS tags)'


#: The tasks a trigger sees: PostgreSQL's transition tables, SQLite's row.
ROWS = {
    'postgresql': {'old': 'old_tasks', 'new': 'new_tasks'},
    'sqlite': {'old': _row('OLD'), 'new': _row('NEW')},
}
#: What each operation changes: the old rows' tags are taken away, the new rows' added.
CHANGES = {
    'INSERT': (('new', 1),),
    'UPDATE': (('old', -1), ('new', 1)),
    'DELETE': (('old', -1),),
}
TRIGGERS = {operation: f'tag_counts_after_{operation.lower()}' for operation in CHANGES}


def _tags(dialect, rows, sign):
    """(user_id, tag, open, completed): `sign` for each tag of each task of `rows`."""
    return (
        'SELECT task.user_id AS user_id, lower(element.value) AS tag, '
        f'{sign} * CAST(NOT task.completed AS INTEGER) AS open, '
        f'{sign} * CAST(task.completed AS INTEGER) AS completed '
        f'FROM {rows} AS task CROSS JOIN {ELEMENTS[dialect]}'
    )


def _add(dialect, sources):
    """Add the differences of `sources` ((rows, sign) pairs) to the counts, in key order."""
    changes = ' UNION ALL '.join(_tags(dialect, rows, sign) for rows, sign in sources)
    return (
        'INSERT INTO tag_counts (user_id, tag, open, completed) '
        f'SELECT user_id, tag, sum(open), sum(completed) FROM ({changes}) AS changes '
        'GROUP BY user_id, tag HAVING sum(open) <> 0 OR sum(completed) <> 0 '
        'ORDER BY user_id, tag '
        'ON CONFLICT (user_id, tag) DO UPDATE SET '
        'open = tag_counts.open + excluded.open, '
        'completed = tag_counts.completed + excluded.completed'
    )


def _statements(dialect, operation):
    rows = ROWS[dialect]
    statements = [_add(dialect, [(rows[side], sign) for side, sign in CHANGES[operation]])]
    if operation != 'INSERT':
        statements.append(
            'DELETE FROM tag_counts WHERE open = 0 AND completed = 0 '
            f"AND user_id IN (SELECT user_id FROM {rows['old']} AS task)"
        )
    return statements


def _postgresql_function():
    """One function for the three statement triggers, by operation."""
    lines = ['CREATE FUNCTION tag_counts_follow_tasks() RETURNS trigger LANGUAGE plpgsql AS $$', 'BEGIN']
    for index, operation in enumerate(CHANGES):
        lines.append(f"    {'IF' if index == 0 else 'ELSIF'} TG_OP = '{operation}' THEN")
        lines += [f'        {statement};' for statement in _statements('postgresql', operation)]
    lines += ['    END IF;', '    RETURN NULL;', 'END', '$$']
    return '\n'.join(lines)


def _create_triggers(dialect):
    for operation, name in TRIGGERS.items():
        if dialect == 'postgresql':
            tables = ' '.join(
                f"{side.upper()} TABLE AS {ROWS[dialect][side]}"
                for side in ('old', 'new')
                if side in dict(CHANGES[operation])
            )
            op.execute(
                f'CREATE TRIGGER {name} AFTER {operation} ON tasks REFERENCING {tables} '
                'FOR EACH STATEMENT EXECUTE FUNCTION tag_counts_follow_tasks()'
            )
        else:
            # Only the columns the counts depend on wake the update trigger.
            columns = ' OF user_id, completed, tags' if operation == 'UPDATE' else ''
            body = ''.join(f'{statement}; ' for statement in _statements(dialect, operation))
            op.execute(
                f'CREATE TRIGGER {name} AFTER {operation}{columns} ON tasks '
                f'FOR EACH ROW BEGIN {body}END'
            )


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        'tag_counts',
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('tag', sa.Text(), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.Column('completed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'tag', name=op.f('pk_tag_counts')),
    )
    if dialect == 'postgresql':
        op.execute(_postgresql_function())
    # The triggers lock `tasks` against writes until this transaction commits (on SQLite the
    # write lock does): nothing changes between the count below and the first trigger.
    _create_triggers(dialect)
    op.execute(_add(dialect, [('tasks', 1)]))


def downgrade():
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS.values():
        op.execute(f'DROP TRIGGER {name} ON tasks' if dialect == 'postgresql' else f'DROP TRIGGER {name}')
    if dialect == 'postgresql':
        op.execute('DROP FUNCTION tag_counts_follow_tasks()')
    op.drop_table('tag_counts')
