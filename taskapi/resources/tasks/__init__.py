from taskapi.resources.tasks.routes import blp

__all__ = ["blp"]
