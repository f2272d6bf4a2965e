"""Statistics resources: figures about your tasks, in your time zone."""

from flask.views import MethodView

from taskapi.api import Blueprint
from taskapi.auth import authenticated, current_owner
from taskapi.resources.stats.schemas import (
    StatsQueryArgsSchema,
    StatsSchema,
    WeeklyStatsQueryArgsSchema,
    WeeklyStatsSchema,
)
from taskapi.services import stats

blp = Blueprint("stats", __name__, url_prefix="/v1/stats", description="Statistics")


@blp.route("")
class Stats(MethodView):
    @authenticated(scope="stats:read")
    @blp.arguments(StatsQueryArgsSchema, location="query")
    @blp.response(200, StatsSchema)
    def get(self, args):
        """Get statistics about your tasks: counts, streaks, top tags and mood"""
        return stats.summary(current_owner(), args["tz"])


@blp.route("/weekly")
class WeeklyStats(MethodView):
    @authenticated(scope="stats:read")
    @blp.arguments(WeeklyStatsQueryArgsSchema, location="query")
    @blp.response(200, WeeklyStatsSchema)
    def get(self, args):
        """Get created and completed counts per day for the last weeks (Monday first)"""
        return stats.weekly(current_owner(), args["tz"], args["weeks"])
