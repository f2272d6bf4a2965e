"""Users provisioned by service clients, so a platform can map its own users onto ours."""

from flask import url_for
from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.auth import authenticated, current_owner
from taskapi.resources.auth.schemas import UserSchema
from taskapi.resources.users.schemas import UserProvisionSchema
from taskapi.services import users

blp = Blueprint("users", __name__, url_prefix="/v1/users", description="Users (service clients)")


@blp.route("")
class Users(MethodView):
    @authenticated(scope="users:write", service=True)
    @blp.arguments(UserProvisionSchema)
    @blp.response(201, UserSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(409, response="CONFLICT", description="The email is taken")
    def post(self, data):
        """Provision a user without a password (API key with `users:write`, or an admin)"""
        user = users.create_user(data["email"], None, data.get("name"))
        return user, 201, {"Location": url_for("users.UserItem", user_id=user.id)}


@blp.route("/<user_id>")
class UserItem(MethodView):
    @authenticated(scope="users:write")
    @blp.response(200, UserSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="No such user (or not visible)")
    def get(self):
        """Get a user (API key with `users:write`; a user's own token; an admin's)"""
        return users.get_user(current_owner().id)
