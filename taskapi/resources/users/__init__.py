from taskapi.resources.users.routes import blp

__all__ = ["blp"]
