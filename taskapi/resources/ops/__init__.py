from taskapi.resources.ops.routes import assets_blp, blp, testing_blp

__all__ = ["assets_blp", "blp", "testing_blp"]
