"""User provisioning bodies (the user body itself is the auth resource's `UserSchema`)."""

import marshmallow as ma

from taskapi.schemas import Email, Schema, Text


class UserProvisionSchema(Schema):
    """A user created by a service client: no password, it cannot log in by itself."""

    email = Email(required=True)
    name = Text(strip=True, allow_none=True, validate=ma.validate.Length(max=200))
