"""The JSON shape of both statistics responses is part of the contract (section 5).

Clients are written against these exact field names, types and nesting: any change to them must
fail here first, loudly.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

INT, NUMBER, STRING = "integer", "number", "string"

STATS_SHAPE = {
    "total": INT,
    "open": INT,
    "completed": INT,
    "overdue": INT,
    "due_today": INT,
    "due_next_7_days": INT,
    "completion_rate": NUMBER,
    "by_priority": {
        "high": {"open": INT, "completed": INT},
        "medium": {"open": INT, "completed": INT},
        "low": {"open": INT, "completed": INT},
    },
    "top_tags": [{"tag": STRING, "open": INT, "completed": INT}],
    "streak": {"current": INT, "longest": INT},
    "created_last_7_days": INT,
    "completed_last_7_days": INT,
    "mood": STRING,
    "generated_at": STRING,
}

WEEKLY_SHAPE = {
    "tz": STRING,
    "weeks": [
        {
            "week_start": STRING,
            "created": INT,
            "completed": INT,
            "days": [{"date": STRING, "created": INT, "completed": INT}],
        }
    ],
}

MOODS = {"sleepy", "grumpy", "worried", "ecstatic", "happy", "content"}


def shape(value: Any) -> Any:
    """The structure of a JSON value: objects by key, lists by their (uniform) items."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [shape(item) for item in value]
        assert shapes, "an empty list pins nothing: the fixture must fill it"
        assert all(item == shapes[0] for item in shapes), shapes
        return [shapes[0]]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    return "null" if value is None else type(value).__name__


def fill(client, headers, create_task) -> None:
    done = create_task(title="Done", tags=["Work", "home"], priority="high")
    client.post(f"/v1/tasks/{done['id']}/complete", headers=headers)
    create_task(title="Open", tags=["work"], due_date="2020-01-01T00:00:00Z")


def test_stats_shape(client, auth_headers, create_task):
    fill(client, auth_headers, create_task)
    response = client.get("/v1/stats?tz=Europe/Paris", headers=auth_headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert shape(body) == STATS_SHAPE
    assert list(body) == list(STATS_SHAPE)  # the documented order, too
    assert body["mood"] in MOODS
    assert datetime.fromisoformat(body["generated_at"]).utcoffset() is not None
    assert isinstance(body["completion_rate"], float)


def test_stats_shape_of_an_empty_account(client, auth_headers):
    body = client.get("/v1/stats", headers=auth_headers).get_json()
    assert body["top_tags"] == []
    assert shape({**body, "top_tags": None}) == {**STATS_SHAPE, "top_tags": "null"}
    assert body["completion_rate"] == 0


def test_weekly_shape(client, auth_headers, create_task):
    fill(client, auth_headers, create_task)
    response = client.get("/v1/stats/weekly?weeks=2&tz=Europe/Paris", headers=auth_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert shape(body) == WEEKLY_SHAPE
    assert list(body) == ["tz", "weeks"]
    assert len(body["weeks"]) == 2
    for week in body["weeks"]:
        assert list(week) == ["week_start", "created", "completed", "days"]
        assert len(week["days"]) == 7
        assert date.fromisoformat(week["week_start"]).weekday() == 0
        for day in week["days"]:
            assert list(day) == ["date", "created", "completed"]
            date.fromisoformat(day["date"])


def test_openapi_documents_the_same_shapes(client):
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]

    def documented(name: str) -> Any:
        schema = schemas[name]
        result = {}
        for field, prop in schema["properties"].items():
            ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
            if ref:
                result[field] = documented(ref.rsplit("/", 1)[1])
            elif prop.get("type") == "array":
                result[field] = [documented(prop["items"]["$ref"].rsplit("/", 1)[1])]
            else:
                result[field] = prop["type"]
        return result

    assert documented("Stats") == STATS_SHAPE
    assert documented("WeeklyStats") == WEEKLY_SHAPE
