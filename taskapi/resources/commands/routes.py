"""Command endpoints, for platforms that integrate by commands rather than resources."""

import werkzeug.exceptions
from flask import request
from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.auth import ANY_SCOPE, authenticated, current_owner
from taskapi.errors import BadRequest
from taskapi.resources.commands.registry import catalogue, command_scope, get_command
from taskapi.resources.commands.schemas import CommandInfoSchema, CommandResultSchema

blp = Blueprint(
    "commands",
    __name__,
    url_prefix="/v1/commands",
    description="Commands: the task operations as named commands with JSON Schemas",
)


@blp.route("")
class Commands(MethodView):
    @authenticated(scope=ANY_SCOPE)
    @blp.response(200, CommandInfoSchema(many=True))
    def get(self):
        """List the commands with the JSON Schemas of their input and output"""
        return catalogue()


@blp.route("/<name>")
class RunCommand(MethodView):
    @authenticated(scope=command_scope)
    @blp.doc(
        requestBody={
            "required": False,
            "description": "The command's input (see its `input_schema` in GET /v1/commands)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    )
    @blp.response(200, CommandResultSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="No such command, or task")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Invalid input")
    def post(self, name):
        """Run a command: the same validation, history and isolation as its REST twin"""
        command = get_command(name)
        body = {}  # no body: the input is empty (valid for commands without required fields)
        if request.get_data(cache=True):
            try:
                body = request.get_json()
            except werkzeug.exceptions.BadRequest:
                raise BadRequest("The request body is not valid JSON.") from None
        return {"command": command.name, "result": command.execute(current_owner(), body)}
