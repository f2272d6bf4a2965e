"""The commands: each one names the schemas of its REST twin and calls the same service.

A command is one `Command` entry in `COMMANDS`: adding one (e.g. `get_stats`, with the stats
service and its schemas) is adding an entry; the catalogue and its JSON Schemas follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import OpenAPIConverter
from flask import current_app, request
from flask_smorest.exceptions import PreconditionRequired
from flask_smorest.pagination import PaginationParameters

from taskapi.models import Account, Task
from taskapi.resources.commands.schemas import (
    StatsCommandSchema,
    TaskIdSchema,
    TaskListCommandSchema,
    TaskUpdateCommandSchema,
)
from taskapi.resources.stats.schemas import StatsSchema
from taskapi.resources.tasks.routes import TaskPage, check_etag
from taskapi.resources.tasks.schemas import CompletionSchema, TaskCreateSchema, TaskSchema
from taskapi.services import stats, tasks
from taskapi.services.tasks import Precondition

#: JSON Schema dialect of the catalogue (OpenAPI 3.1 schemas are JSON Schema 2020-12).
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    #: The scope an API key needs.
    scope: str
    #: Input: the REST twin's body schema (plus `id` where its path has one).
    input: type[ma.Schema]
    #: Output: the REST twin's response schema; None when it answers no body (result null).
    output: ma.Schema | None
    #: Runs it for `owner` with the validated input; returns what `output` dumps.
    run: Callable[[Account, dict[str, Any]], Any]


def _if_match(conditional_method: bool = False) -> Precondition:
    """If-Match as the REST twin honours it (required with REQUIRE_IF_MATCH for PATCH/DELETE)."""
    if conditional_method and current_app.config["REQUIRE_IF_MATCH"] and not request.if_match:
        raise PreconditionRequired
    return check_etag


def _completion(result: tuple[Task, Task | None]) -> dict[str, Any]:
    task, spawned = result
    return {"task": task, "next": spawned}


def _list_tasks(owner: Account, data: dict[str, Any]) -> list[Any]:
    """A page of tasks (rows; TaskSchema writes them out like `Task` objects)."""
    page = PaginationParameters(data.pop("page"), data.pop("page_size"))
    return TaskPage(tasks.task_query(owner, data), page).items


def _update_task(owner: Account, data: dict[str, Any]) -> Task:
    task_id = data.pop("id")
    return tasks.update_task(owner, task_id, data, _if_match(True))[0]


def _delete_task(owner: Account, data: dict[str, Any]) -> None:
    tasks.delete_task(owner, data["id"], _if_match(True))


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            name="create_task",
            description="Create a task (as POST /v1/tasks).",
            scope="tasks:write",
            input=TaskCreateSchema,
            output=TaskSchema(),
            run=tasks.create_task,
        ),
        Command(
            name="get_task",
            description="Get a task (as GET /v1/tasks/{id}).",
            scope="tasks:read",
            input=TaskIdSchema,
            output=TaskSchema(),
            run=lambda owner, data: tasks.get_task(owner, data["id"]),
        ),
        Command(
            name="list_tasks",
            description=(
                "A page of tasks (as GET /v1/tasks): the list filters, `page` and `page_size` "
                "as fields; the result is the list."
            ),
            scope="tasks:read",
            input=TaskListCommandSchema,
            output=TaskSchema(many=True),
            run=_list_tasks,
        ),
        Command(
            name="update_task",
            description="Change some fields of a task (as PATCH /v1/tasks/{id}).",
            scope="tasks:write",
            input=TaskUpdateCommandSchema,
            output=TaskSchema(),
            run=_update_task,
        ),
        Command(
            name="complete_task",
            description=(
                "Complete a task (as POST /v1/tasks/{id}/complete); a recurring task's next "
                "occurrence is returned as `next`."
            ),
            scope="tasks:write",
            input=TaskIdSchema,
            output=CompletionSchema(),
            run=lambda owner, data: _completion(
                tasks.complete_task(owner, data["id"], _if_match())
            ),
        ),
        Command(
            name="reopen_task",
            description="Reopen a completed task (as POST /v1/tasks/{id}/reopen).",
            scope="tasks:write",
            input=TaskIdSchema,
            output=CompletionSchema(),
            run=lambda owner, data: _completion(tasks.reopen_task(owner, data["id"], _if_match())),
        ),
        Command(
            name="delete_task",
            description="Delete a task (as DELETE /v1/tasks/{id}); the result is null.",
            scope="tasks:write",
            input=TaskIdSchema,
            output=None,
            run=_delete_task,
        ),
        Command(
            name="get_stats",
            description=(
                "Statistics (as GET /v1/stats): counts, streaks, top tags and the mood; the "
                "time zone as the field `tz`."
            ),
            scope="stats:read",
            input=StatsCommandSchema,
            output=StatsSchema(),
            run=lambda owner, data: stats.summary(owner, data["tz"]),
        ),
    )
}


def json_schema(schema: ma.Schema | type[ma.Schema] | None) -> dict[str, Any]:
    """The JSON Schema of a marshmallow schema, as the OpenAPI document describes it, with
    nested schemas inlined so that it stands alone (`null` for no schema)."""
    if schema is None:
        return {"$schema": JSON_SCHEMA_DIALECT, "type": "null"}
    spec = APISpec("commands", "1", "3.1.0")
    converter = OpenAPIConverter("3.1.0", lambda _schema: None, spec)
    return {"$schema": JSON_SCHEMA_DIALECT, **converter.resolve_nested_schema(schema)}


@lru_cache(maxsize=1)
def catalogue() -> list[dict[str, Any]]:
    """Every command with the JSON Schemas of its input and output (computed once)."""
    return [
        {
            "name": command.name,
            "description": command.description,
            "scope": command.scope,
            "input_schema": json_schema(command.input),
            "output_schema": json_schema(command.output),
        }
        for command in COMMANDS.values()
    ]
