"""History resources: the audit log of every change to your tasks."""

from flask.views import MethodView

from taskapi.api import Blueprint, SelectPage
from taskapi.auth import authenticated, current_owner
from taskapi.resources.history.schemas import (
    HistoryEntrySchema,
    HistoryQueryArgsSchema,
    TaskHistoryQueryArgsSchema,
)
from taskapi.services import history

blp = Blueprint("history", __name__, url_prefix="/v1", description="History of task changes")


@blp.route("/history")
class History(MethodView):
    @authenticated(scope="history:read")
    @blp.arguments(HistoryQueryArgsSchema, location="query")
    @blp.response(200, HistoryEntrySchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """List the history of your tasks, newest first (oldest first with `after`)"""
        return history.history_query(current_owner(), **args)


@blp.route("/tasks/<task_id>/history")
class TaskHistory(MethodView):
    @authenticated(scope="history:read")
    @blp.arguments(TaskHistoryQueryArgsSchema, location="query")
    @blp.response(200, HistoryEntrySchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND", description="The task never was yours")
    @blp.paginate(SelectPage)
    def get(self, args, task_id):
        """List the history of one task (deleted tasks included), newest first"""
        return history.task_history_query(current_owner(), task_id, **args)
