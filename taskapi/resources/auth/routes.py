"""Registration, login, token refresh and logout."""

from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.auth import authenticated, current_user
from taskapi.resources.auth.schemas import LoginSchema, RegisterSchema, TokensSchema, UserSchema
from taskapi.services import auth as auth_service
from taskapi.services import users

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Accounts and tokens")


@blp.route("/register")
class Register(MethodView):
    @blp.arguments(RegisterSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(403, response="FORBIDDEN", description="Registration is disabled")
    @blp.alt_response(409, response="CONFLICT", description="The email is taken")
    def post(self, data):
        """Create an account"""
        return users.register(data["email"], data["password"], data.get("name"))


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED", description="Invalid email or password")
    def post(self, data):
        """Exchange email and password for an access and a refresh token"""
        return auth_service.login(data["email"], data["password"])


@blp.route("/refresh")
class Refresh(MethodView):
    @authenticated(refresh=True)
    @blp.response(200, TokensSchema)
    def post(self):
        """Exchange a refresh token for a new pair (the used refresh token is revoked)"""
        return auth_service.refresh(current_user())


@blp.route("/logout")
class Logout(MethodView):
    @authenticated()
    @blp.response(204)
    def post(self):
        """Revoke the access token of this request"""
        auth_service.revoke_current_token(current_user())


@blp.route("/me")
class Me(MethodView):
    @authenticated()
    @blp.response(200, UserSchema)
    def get(self):
        """The logged-in user"""
        return current_user()
