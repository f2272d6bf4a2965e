"""Task resources: CRUD and the completion commands."""

from typing import Any

from flask import url_for
from flask.views import MethodView
from sqlalchemy import Select

from taskapi.api import Blueprint, SelectPage
from taskapi.auth import authenticated, current_owner
from taskapi.models import Task
from taskapi.resources.tasks.schemas import (
    CompletionSchema,
    TaskCreateSchema,
    TaskPatchSchema,
    TaskQueryArgsSchema,
    TaskSchema,
)
from taskapi.services import tasks

blp = Blueprint("tasks", __name__, url_prefix="/v1/tasks", description="Tasks")

NOT_FOUND = {"response": "NOT_FOUND", "description": "No such task (or not yours)"}


class TaskPage(SelectPage):
    """A page of tasks, read as plain rows."""

    def load(self, page: Select[Any]) -> list[Any]:
        return tasks.task_rows(page)


def check_etag(task: Task) -> None:
    """Refuse the change when the client's If-Match names another version of the task."""
    blp.check_etag(task, TaskSchema)


def completion(result: tuple[Task, Task | None]) -> dict[str, Any]:
    task, spawned = result
    blp.set_etag(task, TaskSchema)
    return {"task": task, "next": spawned}


@blp.route("")
class Tasks(MethodView):
    @authenticated(scope="tasks:read")
    @blp.arguments(TaskQueryArgsSchema, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate(TaskPage)
    def get(self, args):
        """List your tasks, a page at a time"""
        return tasks.task_query(current_owner(), args)

    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.arguments(TaskCreateSchema)
    @blp.response(201, TaskSchema, headers={"Location": {"schema": {"type": "string"}}})
    def post(self, data):
        """Create a task"""
        task = tasks.create_task(current_owner(), data)
        # Relative endpoint: under /v1/users/<user_id>/tasks the link stays in that family.
        return task, 201, {"Location": url_for(".TaskItem", task_id=task.id)}


@blp.route("/<task_id>")
class TaskItem(MethodView):
    @authenticated(scope="tasks:read", with_task="task_id")
    @blp.etag
    @blp.response(200, TaskSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, task_id):
        """Get a task"""
        return tasks.get_task(current_owner(), task_id)

    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.arguments(TaskCreateSchema)
    @blp.response(200, TaskSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def put(self, data, task_id):
        """Replace a task (optional fields left out go back to their defaults)"""
        return tasks.replace_task(current_owner(), task_id, data, check_etag)

    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.arguments(TaskPatchSchema)
    @blp.response(200, TaskSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def patch(self, data, task_id):
        """Change some fields of a task"""
        return tasks.update_task(current_owner(), task_id, data, check_etag)[0]

    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, **NOT_FOUND)
    def delete(self, task_id):
        """Delete a task"""
        tasks.delete_task(current_owner(), task_id, check_etag)


def _command_doc(func):
    """The completion commands honour If-Match like PUT/PATCH/DELETE."""
    func = blp.alt_response(404, **NOT_FOUND)(func)
    return blp.conditional_command(func)


@blp.route("/<task_id>/complete")
class CompleteTask(MethodView):
    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.response(200, CompletionSchema)
    @_command_doc
    def post(self, task_id):
        """Complete a task; a recurring task's next occurrence is returned as `next`"""
        return completion(tasks.complete_task(current_owner(), task_id, check_etag))


@blp.route("/<task_id>/reopen")
class ReopenTask(MethodView):
    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.response(200, CompletionSchema)
    @_command_doc
    def post(self, task_id):
        """Reopen a completed task"""
        return completion(tasks.reopen_task(current_owner(), task_id, check_etag))


@blp.route("/<task_id>/toggle")
class ToggleTask(MethodView):
    @authenticated(scope="tasks:write")
    @blp.etag
    @blp.response(200, CompletionSchema)
    @_command_doc
    def post(self, task_id):
        """Complete an open task or reopen a completed one"""
        return completion(tasks.toggle_task(current_owner(), task_id, check_etag))
