from taskapi.resources.stats.routes import blp

__all__ = ["blp"]
