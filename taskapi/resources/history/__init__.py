from taskapi.resources.history.routes import blp

__all__ = ["blp"]
