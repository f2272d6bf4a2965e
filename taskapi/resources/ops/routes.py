"""Liveness, readiness, metrics, and the Swagger UI assets (served locally: /docs works offline)."""

import time
from pathlib import Path

import marshmallow as ma
import swagger_ui_bundle
from flask import Blueprint as FlaskBlueprint
from flask import request, send_from_directory
from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.metrics import current_metrics
from taskapi.services import readiness

blp = Blueprint("operations", __name__, description="Health and readiness probes")
assets_blp = FlaskBlueprint("docs_assets", __name__)
#: Registered only with TESTING_ENDPOINTS (refused in production): lets the serving tests hold a
#: request open deterministically.
testing_blp = FlaskBlueprint("testing", __name__, url_prefix="/_testing")


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "ok"})


class ReadySchema(HealthSchema):
    database = ma.fields.String(metadata={"example": "ok"})


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Liveness: the process answers (touches nothing else)"""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """Readiness: the database answers and its schema is at the latest migration"""
        readiness.check()
        return {"status": "ok", "database": "ok"}


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "Prometheus text exposition format, all worker processes together",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self):
        """Prometheus metrics: requests by route and status, latency, in-flight, DB pool use"""
        return current_metrics().render()


@testing_blp.route("/sleep")
def sleep():
    seconds = min(float(request.args.get("seconds", "1")), 30.0)
    time.sleep(seconds)
    return {"slept": seconds}


@assets_blp.route("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str):
    return send_from_directory(Path(swagger_ui_bundle.swagger_ui_path), filename, max_age=86400)
