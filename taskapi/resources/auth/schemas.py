"""Auth request and response bodies."""

import marshmallow as ma

from taskapi.schemas import Email, Schema, Text, Timestamp


class UserSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    email = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True, allow_none=True)
    is_admin = ma.fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)


class RegisterSchema(Schema):
    email = Email(required=True)
    password = Text(required=True, validate=ma.validate.Length(min=8, max=128))
    name = Text(strip=True, allow_none=True, validate=ma.validate.Length(max=200))


class LoginSchema(Schema):
    email = Text(required=True, validate=ma.validate.Length(max=320))
    password = Text(required=True, validate=ma.validate.Length(max=1024))


class TokensSchema(Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Access token lifetime in seconds"}
    )
