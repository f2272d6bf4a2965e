"""GET /v1/tasks: search, filters, sorting and pagination, with the same results on both engines."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import assert_problem
from sqlalchemy import update

from taskapi.extensions import db
from taskapi.models import Task


def listing(client, headers, query: str = "", page_size: int = 100) -> list[dict[str, Any]]:
    separator = "&" if query else ""
    response = client.get(f"/v1/tasks?{query}{separator}page_size={page_size}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def titles(client, headers, query: str) -> set[str]:
    return {task["title"] for task in listing(client, headers, query)}


def set_columns(app, task_id: str, **values: Any) -> None:
    """Change stored columns directly (timestamps the API sets itself)."""
    with app.app_context():
        db.session.execute(update(Task).where(Task.id == uuid.UUID(task_id)).values(**values))
        db.session.commit()
        db.session.remove()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_q_matches_every_word_by_prefix_case_insensitively(client, auth_headers, create_task):
    create_task(title="Write the Report")
    create_task(title="Call Bob", description="About my-report draft")
    create_task(title="Repair bike")
    create_task(title="Preparation", description="unrepaired")
    create_task(title="snake_case_words")
    create_task(title="Été à Paris", description="CAFÉ 42kg")

    assert titles(client, auth_headers, "q=rep") == {"Write the Report", "Call Bob", "Repair bike"}
    assert titles(client, auth_headers, "q=REP") == {"Write the Report", "Call Bob", "Repair bike"}
    assert titles(client, auth_headers, "q=rep+bik") == {"Repair bike"}
    assert titles(client, auth_headers, "q=my-rep") == {"Call Bob"}
    assert titles(client, auth_headers, "q=draft+report") == {"Call Bob"}
    assert titles(client, auth_headers, "q=bike+report") == set()
    assert titles(client, auth_headers, "q=case") == {"snake_case_words"}
    assert titles(client, auth_headers, "q=%C3%A9t%C3%A9") == {"Été à Paris"}  # "été"
    assert titles(client, auth_headers, "q=caf%C3%A9+42") == {"Été à Paris"}
    assert titles(client, auth_headers, "q=kg") == set()  # "42kg" is one word
    # Matching starts at a word boundary only.
    assert titles(client, auth_headers, "q=port") == set()
    assert titles(client, auth_headers, "q=paired") == set()


@pytest.mark.parametrize("q", ["", "   ", "-- !! _", "%25"])
def test_q_without_any_word_does_not_filter(client, auth_headers, create_task, q):
    create_task(title="One")
    create_task(title="Two", description="2")
    assert titles(client, auth_headers, f"q={q}") == {"One", "Two"}


def test_status_filters(client, auth_headers, create_task):
    now = datetime.now(UTC)
    past, future = iso(now - timedelta(hours=1)), iso(now + timedelta(hours=1))
    create_task(title="open past", due_date=past)
    create_task(title="open future", due_date=future)
    create_task(title="open undated")
    create_task(title="done past", due_date=past, completed=True)
    create_task(title="done undated", completed=True)

    assert titles(client, auth_headers, "status=open") == {
        "open past",
        "open future",
        "open undated",
    }
    assert titles(client, auth_headers, "status=completed") == {"done past", "done undated"}
    assert titles(client, auth_headers, "status=overdue") == {"open past"}


def test_priority_one_or_a_list(client, auth_headers, create_task):
    for priority in ("low", "medium", "high"):
        create_task(title=priority, priority=priority)
    assert titles(client, auth_headers, "priority=high") == {"high"}
    assert titles(client, auth_headers, "priority=high,low") == {"high", "low"}
    assert titles(client, auth_headers, "priority=high,%20medium") == {"high", "medium"}


def test_tags_must_all_match_case_insensitively(client, auth_headers, create_task):
    create_task(title="both", tags=["Work", "urgent", "Été"])
    create_task(title="work only", tags=["work"])
    create_task(title="none")

    assert titles(client, auth_headers, "tags=work") == {"both", "work only"}
    assert titles(client, auth_headers, "tags=WORK,Urgent") == {"both"}
    assert titles(client, auth_headers, "tags=%C3%A9t%C3%A9") == {"both"}  # "été"
    assert titles(client, auth_headers, "tags=work,missing") == set()
    assert titles(client, auth_headers, "tags=wor") == set()  # whole tags, not prefixes


def test_due_date_bounds_are_inclusive_and_exclude_undated(client, auth_headers, create_task):
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for day in range(4):
        create_task(title=f"day {day}", due_date=iso(base + timedelta(days=day)))
    create_task(title="undated")
    start, end = iso(base + timedelta(days=1)), iso(base + timedelta(days=2))

    both = f"due_date_from={start.replace('+', '%2B')}&due_date_to={end.replace('+', '%2B')}"
    assert titles(client, auth_headers, both) == {"day 1", "day 2"}
    assert titles(client, auth_headers, "due_date_from=2026-03-03T12:00:00") == {"day 2", "day 3"}
    assert titles(client, auth_headers, "due_date_to=2026-03-01T12:00:00Z") == {"day 0"}
    # The same instant written with another offset.
    assert titles(client, auth_headers, "due_date_to=2026-03-01T13:00:00%2B01:00") == {"day 0"}


def test_filters_combine(client, auth_headers, create_task):
    past = iso(datetime.now(UTC) - timedelta(days=1))
    create_task(title="Pay rent", priority="high", tags=["home"], due_date=past)
    create_task(title="Pay taxes", priority="high", tags=["home"], due_date=past, completed=True)
    create_task(title="Pay bills", priority="low", tags=["home"], due_date=past)
    create_task(title="Pay team", priority="high", tags=["work"], due_date=past)
    create_task(title="Read book", priority="high", tags=["home"], due_date=past)

    query = "q=pay&status=overdue&priority=high,medium&tags=HOME"
    assert titles(client, auth_headers, query) == {"Pay rent"}


def test_filters_never_show_other_users_tasks(client, auth_headers, make_user, create_task):
    create_task(title="mine report", tags=["x"])
    create_task(headers=make_user(), title="theirs report", tags=["x"])
    assert titles(client, auth_headers, "q=report&tags=x") == {"mine report"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("priority=urgent", "priority"),
        ("priority=high,", "priority"),
        ("priority=", "priority"),
        ("status=done", "status"),
        ("tags=a,,b", "tags"),
        ("tags=%20", "tags"),
        ("tags=" + "x" * 51, "tags"),
        ("tags=" + ",".join(f"t{n}" for n in range(21)), "tags"),
        ("sort_by=id", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("due_date_from=yesterday", "due_date_from"),
        ("due_date_to=2026-13-01", "due_date_to"),
        ("due_date_from=2026-03-02&due_date_to=2026-03-01", "due_date_from"),
        ("q=" + "a" * 501, "q"),
        ("q=%00", "q"),
    ],
)
def test_invalid_filters_are_422(client, auth_headers, query, field):
    body = assert_problem(
        client.get(f"/v1/tasks?{query}", headers=auth_headers), 422, "validation_error"
    )
    assert field in body["errors"]["query"], body


# --- ordering and pagination ---------------------------------------------------------------

SORT_KEYS = {
    "created_at": lambda task: task["created_at"],
    "updated_at": lambda task: task["updated_at"],
    "priority": lambda task: ("low", "medium", "high").index(task["priority"]),
    "title": lambda task: task["title"],
    "due_date": lambda task: task["due_date"],
}


def expected_order(tasks: list[dict[str, Any]], sort_by: str, order: str) -> list[str]:
    """The contract's order: by the field, ties by id (same direction), undated tasks last."""
    key = SORT_KEYS[sort_by]
    dated = [task for task in tasks if sort_by != "due_date" or task["due_date"] is not None]
    undated = [task for task in tasks if task not in dated]

    def sort(items: list[dict[str, Any]], with_key: bool) -> list[str]:
        ordered = sorted(
            items,
            key=lambda task: ((key(task) if with_key else 0), task["id"]),
            reverse=order == "desc",
        )
        return [task["id"] for task in ordered]

    return sort(dated, True) + sort(undated, False)


@pytest.fixture
def tasks_with_ties(app, create_task) -> list[dict[str, Any]]:
    """Thirteen tasks with equal sort values and missing due dates, to test tie-breaking."""
    same = datetime(2026, 1, 1, tzinfo=UTC)
    created = []
    for number in range(13):
        task = create_task(
            title=("alpha", "beta", "beta", "gamma")[number % 4],
            priority=("low", "medium", "high")[number % 3],
            due_date=None if number % 3 == 0 else iso(same + timedelta(days=number % 2)),
        )
        moment = same + timedelta(hours=number % 3)
        set_columns(
            app, task["id"], created_at=moment, updated_at=moment + timedelta(hours=number % 2)
        )
        created.append(task)
    return created


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", list(SORT_KEYS))
def test_sort_orders_break_ties_by_id_and_put_undated_last(
    client, auth_headers, tasks_with_ties, sort_by, order
):
    everything = listing(client, auth_headers, f"sort_by={sort_by}&sort_order={order}")
    assert [task["id"] for task in everything] == expected_order(everything, sort_by, order)
    if sort_by == "due_date":
        assert [task["due_date"] for task in everything][-5:] == [None] * 5
        assert everything[0]["due_date"] is not None

    # Walk every page of 4: together they are the full list, once each, in the same order.
    walked, page = [], 1
    while True:
        response = client.get(
            f"/v1/tasks?sort_by={sort_by}&sort_order={order}&page={page}&page_size=4",
            headers=auth_headers,
        )
        assert response.status_code == 200
        walked += [task["id"] for task in response.get_json()]
        pagination = json.loads(response.headers["X-Pagination"])
        assert pagination["total"] == 13
        if "next_page" not in pagination:
            break
        page = pagination["next_page"]
    assert walked == [task["id"] for task in everything]


def test_default_order_is_newest_first(client, auth_headers, create_task):
    ids = [create_task(title=f"t{n}")["id"] for n in range(3)]
    assert [task["id"] for task in listing(client, auth_headers)] == list(reversed(ids))
    default = listing(client, auth_headers, "sort_by=created_at&sort_order=desc")
    assert [task["id"] for task in default] == list(reversed(ids))


def test_filtered_pagination_counts_only_matches(client, auth_headers, create_task):
    for number in range(5):
        create_task(title=f"report {number}")
    create_task(title="other")
    response = client.get("/v1/tasks?q=rep&page_size=2&page=3", headers=auth_headers)
    assert response.status_code == 200
    assert len(response.get_json()) == 1
    assert json.loads(response.headers["X-Pagination"])["total"] == 5
    assert "q=rep" in response.headers["Link"]
    beyond = client.get("/v1/tasks?q=rep&page_size=2&page=4", headers=auth_headers)
    assert beyond.status_code == 200
    assert beyond.get_json() == []
    assert json.loads(beyond.headers["X-Pagination"])["total"] == 5
