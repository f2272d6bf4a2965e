"""Command endpoints, for platforms that integrate by commands rather than resources.

Each command is its own operation, `POST /v1/commands/<name>`, with the input schema of its REST
twin, so the OpenAPI document states exactly what each one takes and returns; an unknown name has
no route (404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.auth import ANY_SCOPE, authenticated, current_owner
from taskapi.resources.commands.registry import COMMANDS, Command, catalogue
from taskapi.resources.commands.schemas import CommandInfoSchema

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


def _result_schema(command: Command) -> type[ma.Schema]:
    """`{"command": name, "result": <what the REST twin returns>}` for this command."""
    result: ma.fields.Field
    if command.output is None:
        result = ma.fields.Raw(allow_none=True, metadata={"description": "Always null"})
    else:
        result = ma.fields.Nested(command.output, metadata={"description": "The REST twin's body"})
    camel = "".join(part.title() for part in command.name.split("_"))
    return ma.Schema.from_dict(
        {"command": ma.fields.String(metadata={"example": command.name}), "result": result},
        name=f"{camel}Result",
    )


def _command_view(command: Command) -> Callable[..., Any]:
    @authenticated(scope=command.scope)
    @blp.arguments(command.input, required=False)
    @blp.response(200, _result_schema(command))
    @blp.alt_response(404, response="NOT_FOUND", description="No such task (or not yours)")
    def run(data: dict[str, Any]) -> dict[str, Any]:
        return {"command": command.name, "result": command.run(current_owner(), dict(data))}

    run.__doc__ = command.description
    run.__name__ = command.name
    return run


for _command in COMMANDS.values():
    blp.route(f"/{_command.name}", methods=["POST"], endpoint=_command.name)(
        _command_view(_command)
    )
