from taskapi.resources.commands.routes import blp

__all__ = ["blp"]
