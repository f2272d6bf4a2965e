"""Task body validation: boundaries, strict types, storable text, timestamps, PUT/PATCH semantics.

A refused request changes nothing: every 422 below is followed by a look at what is stored.
"""

import json

import pytest
from conftest import assert_problem


def post(client, headers, body):
    return client.post("/v1/tasks", json=body, headers=headers)


def assert_invalid(response, field):
    body = assert_problem(response, 422, "validation_error")
    assert field in body["errors"]["json"], body
    return body


def stored_tasks(client, headers):
    return client.get("/v1/tasks?page_size=100", headers=headers).get_json()


def assert_refused_and_nothing_stored(client, headers, body, field):
    assert_invalid(post(client, headers, body), field)
    assert stored_tasks(client, headers) == []


# Title and description ---------------------------------------------------------


def test_title_of_500_characters_is_accepted(client, auth_headers):
    title = "t" * 500
    response = post(client, auth_headers, {"title": title})
    assert response.status_code == 201
    assert response.get_json()["title"] == title


def test_title_of_501_characters_is_refused(client, auth_headers):
    assert_refused_and_nothing_stored(client, auth_headers, {"title": "t" * 501}, "title")


def test_title_is_trimmed_before_its_length_is_checked(client, auth_headers):
    title = "t" * 500
    response = post(client, auth_headers, {"title": f"  \t{title}\n "})
    assert response.status_code == 201
    assert response.get_json()["title"] == title


@pytest.mark.parametrize("title", ["", "   ", "\t\n", None])
def test_empty_whitespace_or_null_title_is_refused(client, auth_headers, title):
    assert_refused_and_nothing_stored(client, auth_headers, {"title": title}, "title")


def test_title_is_required(client, auth_headers):
    assert_refused_and_nothing_stored(client, auth_headers, {"priority": "low"}, "title")


def test_description_of_5000_characters_is_accepted(client, auth_headers):
    response = post(client, auth_headers, {"title": "x", "description": "d" * 5000})
    assert response.status_code == 201
    assert response.get_json()["description"] == "d" * 5000


def test_description_of_5001_characters_is_refused(client, auth_headers):
    body = {"title": "x", "description": "d" * 5001}
    assert_refused_and_nothing_stored(client, auth_headers, body, "description")


# Tags ------------------------------------------------------------------------------


def test_twenty_tags_are_accepted(client, auth_headers):
    tags = [f"tag{n}" for n in range(20)]
    response = post(client, auth_headers, {"title": "x", "tags": tags})
    assert response.status_code == 201
    assert response.get_json()["tags"] == tags


def test_twenty_one_distinct_tags_are_refused(client, auth_headers):
    body = {"title": "x", "tags": [f"tag{n}" for n in range(21)]}
    assert_refused_and_nothing_stored(client, auth_headers, body, "tags")


def test_duplicate_tags_collapse_case_insensitively_keeping_first_spelling_and_order(
    client, auth_headers
):
    distinct = [f"Tag{n}" for n in range(20)]
    # 25 tags: the 20 distinct ones plus 5 differently spelled or padded repeats, interleaved.
    tags = [*distinct[:10], "TAG3", " tag0 ", *distinct[10:], "tAg19", "tag7", "TAG10"]
    assert len(tags) == 25
    response = post(client, auth_headers, {"title": "x", "tags": tags})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["tags"] == distinct


def test_tags_are_trimmed(client, auth_headers):
    response = post(client, auth_headers, {"title": "x", "tags": ["  work ", "home\t"]})
    assert response.get_json()["tags"] == ["work", "home"]


def test_tag_of_50_characters_is_accepted(client, auth_headers):
    response = post(client, auth_headers, {"title": "x", "tags": ["a" * 50]})
    assert response.status_code == 201
    assert response.get_json()["tags"] == ["a" * 50]


@pytest.mark.parametrize("tag", ["a" * 51, "", "   ", None, 7])
def test_bad_tags_are_refused(client, auth_headers, tag):
    assert_refused_and_nothing_stored(client, auth_headers, {"title": "x", "tags": [tag]}, "tags")


# Dates, reminders, recurrence ---------------------------------------------------


def test_reminder_after_due_date_is_refused_on_create(client, auth_headers):
    body = {
        "title": "x",
        "due_date": "2026-12-01T10:00:00Z",
        "reminder_at": "2026-12-01T10:00:01Z",
    }
    assert_refused_and_nothing_stored(client, auth_headers, body, "reminder_at")


def test_reminder_equal_to_due_date_is_accepted(client, auth_headers):
    moment = "2026-12-01T10:00:00+00:00"
    response = post(client, auth_headers, {"title": "x", "due_date": moment, "reminder_at": moment})
    assert response.status_code == 201


def test_reminder_is_checked_against_the_stored_due_date_on_patch(
    client, auth_headers, create_task
):
    task = create_task(due_date="2026-12-01T10:00:00Z", reminder_at="2026-12-01T09:00:00Z")
    url = f"/v1/tasks/{task['id']}"
    assert_invalid(
        client.patch(url, json={"reminder_at": "2026-12-01T11:00:00Z"}, headers=auth_headers),
        "reminder_at",
    )
    # Moving the due date before the stored reminder is refused too.
    assert_invalid(
        client.patch(url, json={"due_date": "2026-12-01T08:00:00Z"}, headers=auth_headers),
        "reminder_at",
    )
    assert client.get(url, headers=auth_headers).get_json() == task


def test_reminder_without_due_date_is_accepted(client, auth_headers):
    response = post(client, auth_headers, {"title": "x", "reminder_at": "2026-12-01T09:00:00Z"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SOMETIMES",
        "BYDAY=MO",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=abc",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY\nFREQ=WEEKLY",
        "RRULE:",
        "",
        "hello",
    ],
)
def test_bad_recurrence_rule_is_refused(client, auth_headers, rule):
    body = {"title": "x", "due_date": "2026-12-01T10:00:00Z", "recurrence_rule": rule}
    assert_refused_and_nothing_stored(client, auth_headers, body, "recurrence_rule")


def test_recurrence_rule_needs_a_due_date(client, auth_headers, create_task):
    body = {"title": "x", "recurrence_rule": "FREQ=DAILY"}
    assert_refused_and_nothing_stored(client, auth_headers, body, "recurrence_rule")

    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    assert_invalid(
        client.patch(url, json={"recurrence_rule": "FREQ=DAILY"}, headers=auth_headers),
        "recurrence_rule",
    )
    recurring = create_task(due_date="2026-12-01T10:00:00Z", recurrence_rule="FREQ=DAILY")
    recurring_url = f"/v1/tasks/{recurring['id']}"
    assert_invalid(
        client.patch(recurring_url, json={"due_date": None}, headers=auth_headers),
        "recurrence_rule",
    )
    assert client.get(url, headers=auth_headers).get_json() == task
    assert client.get(recurring_url, headers=auth_headers).get_json() == recurring


@pytest.mark.parametrize("prefix", ["RRULE:", "rrule:", ""])
def test_rrule_prefix_is_optional(client, auth_headers, prefix):
    body = {
        "title": "x",
        "due_date": "2026-12-01T10:00:00Z",
        "recurrence_rule": f"{prefix}FREQ=WEEKLY;BYDAY=MO,WE",
    }
    response = post(client, auth_headers, body)
    assert response.status_code == 201
    task = response.get_json()
    assert task["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert task["is_recurring"] is True


def test_naive_timestamp_is_taken_as_utc(client, auth_headers):
    response = post(client, auth_headers, {"title": "x", "due_date": "2026-12-01T10:00:00"})
    assert response.get_json()["due_date"] == "2026-12-01T10:00:00+00:00"


def test_timestamps_are_returned_in_utc(client, auth_headers, create_task):
    task = create_task(
        due_date="2026-12-01T12:30:00+02:00", reminder_at="2026-12-01T05:00:00-05:00"
    )
    assert task["due_date"] == "2026-12-01T10:30:00+00:00"
    assert task["reminder_at"] == "2026-12-01T10:00:00+00:00"
    for name in ("created_at", "updated_at"):
        assert task[name].endswith("+00:00")
    fetched = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json()
    assert fetched["due_date"] == "2026-12-01T10:30:00+00:00"


@pytest.mark.parametrize(
    "value", ["tomorrow", "2026-13-01T00:00:00Z", "2026-12-01T25:00:00", 1764583200, True, ""]
)
def test_bad_timestamps_are_refused(client, auth_headers, value):
    assert_refused_and_nothing_stored(
        client, auth_headers, {"title": "x", "due_date": value}, "due_date"
    )


# Unknown, read-only and wrongly typed fields --------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"colour": "red"},
        {"user_id": "00000000-0000-0000-0000-000000000000"},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"created_at": "2026-01-01T00:00:00Z"},
        {"updated_at": "2026-01-01T00:00:00Z"},
        {"completed_at": "2026-01-01T00:00:00Z"},
        {"is_recurring": False},
    ],
)
def test_unknown_and_read_only_fields_are_refused(client, auth_headers, create_task, extra):
    (field,) = extra
    assert_refused_and_nothing_stored(client, auth_headers, {"title": "x", **extra}, field)
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    assert_invalid(client.patch(url, json=extra, headers=auth_headers), field)
    assert_invalid(client.put(url, json={"title": "y", **extra}, headers=auth_headers), field)
    assert client.get(url, headers=auth_headers).get_json() == task


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("completed", 1),
        ("completed", 0),
        ("completed", "true"),
        ("completed", "yes"),
        ("completed", None),
        ("priority", 5),
        ("priority", "5"),
        ("priority", "urgent"),
        ("priority", "HIGH"),
        ("priority", None),
        ("title", 123),
        ("title", ["x"]),
        ("description", 5),
        ("tags", "work"),
        ("tags", {"a": 1}),
        ("tags", None),
    ],
)
def test_strict_types(client, auth_headers, create_task, field, value):
    body = {"title": "x", field: value}
    assert_refused_and_nothing_stored(client, auth_headers, body, field)
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    assert_invalid(client.patch(url, json={field: value}, headers=auth_headers), field)
    assert client.get(url, headers=auth_headers).get_json() == task


@pytest.mark.parametrize("body", [[], ["title"], "title", 42, None])
def test_body_must_be_a_json_object(client, auth_headers, body):
    response = client.post(
        "/v1/tasks",
        data=json.dumps(body),
        content_type="application/json",
        headers=auth_headers,
    )
    assert_problem(response, 422, "validation_error")
    assert stored_tasks(client, auth_headers) == []


# Text that cannot be stored, and text that must be kept exactly --------------------


@pytest.mark.parametrize("field", ["title", "description"])
def test_nul_character_is_refused(client, auth_headers, field):
    body = {"title": "x", field: "before\u0000after"}
    assert_refused_and_nothing_stored(client, auth_headers, body, field)


def test_nul_character_in_a_tag_is_refused(client, auth_headers):
    assert_refused_and_nothing_stored(
        client, auth_headers, {"title": "x", "tags": ["a\x00"]}, "tags"
    )


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83dy"])
@pytest.mark.parametrize("field", ["title", "description"])
def test_lone_surrogate_is_refused(client, auth_headers, field, escape):
    body = {"title": "x", field: "PLACEHOLDER"}
    # json.dumps cannot write a lone surrogate escape: put it in the raw text by hand.
    raw = json.dumps(body).replace("PLACEHOLDER", escape)
    response = client.post(
        "/v1/tasks", data=raw, content_type="application/json", headers=auth_headers
    )
    assert_invalid(response, field)
    assert stored_tasks(client, auth_headers) == []


def test_text_that_cannot_be_stored_is_refused_on_patch(client, auth_headers, create_task):
    task = create_task(description="kept")
    url = f"/v1/tasks/{task['id']}"
    for raw, field in (
        ('{"title": "a\\u0000b"}', "title"),
        ('{"description": "\\ud800"}', "description"),
        ('{"tags": ["ok", "\\udc00"]}', "tags"),
    ):
        response = client.patch(
            url, data=raw, content_type="application/json", headers=auth_headers
        )
        assert_invalid(response, field)
    assert client.get(url, headers=auth_headers).get_json() == task


def test_unicode_text_is_stored_and_returned_unchanged(client, auth_headers):
    title = (
        "Caf\u00e9 \u2615 \U0001f431 na\u0308ive \u202eright-to-left\u202c \u05e9\u05dc\u05d5\u05dd"
    )
    description = (
        "\u0645\u0631\u062d\u0628\u0627 \u200d\u200c\ufeff zero-width and BOM, "
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family, \u00a0nbsp, \u2028line separator"
    )
    tags = ["\u00e9t\u00e9", "\U0001f525", "\u65e5\u672c\u8a9e"]
    response = post(
        client, auth_headers, {"title": title, "description": description, "tags": tags}
    )
    assert response.status_code == 201
    created = response.get_json()
    assert (created["title"], created["description"], created["tags"]) == (title, description, tags)
    fetched = client.get(f"/v1/tasks/{created['id']}", headers=auth_headers).get_json()
    assert (fetched["title"], fetched["description"], fetched["tags"]) == (title, description, tags)
    # Not normalised: the decomposed "a\u0308" stays two code points.
    assert "a\u0308" in fetched["title"]


# PUT and PATCH semantics --------------------------------------------------------------


FULL = {
    "title": "Everything",
    "description": "All fields set",
    "completed": True,
    "priority": "high",
    "tags": ["a", "b"],
    "due_date": "2026-12-07T09:00:00+00:00",
    "reminder_at": "2026-12-07T08:00:00+00:00",
    "recurrence_rule": "FREQ=WEEKLY",
}


def test_put_resets_omitted_optional_fields_to_their_defaults(client, auth_headers, create_task):
    task = create_task(**FULL)
    response = client.put(f"/v1/tasks/{task['id']}", json={"title": "Bare"}, headers=auth_headers)
    assert response.status_code == 200
    replaced = response.get_json()
    assert replaced == {
        **replaced,
        "title": "Bare",
        "description": None,
        "completed": False,
        "completed_at": None,
        "priority": "medium",
        "tags": [],
        "due_date": None,
        "reminder_at": None,
        "recurrence_rule": None,
        "is_recurring": False,
    }


def test_patch_null_clears_nullable_fields(client, auth_headers, create_task):
    task = create_task(**{**FULL, "completed": False})
    url = f"/v1/tasks/{task['id']}"
    response = client.patch(
        url,
        json={"description": None, "reminder_at": None, "recurrence_rule": None},
        headers=auth_headers,
    )
    assert response.status_code == 200
    patched = response.get_json()
    assert patched["description"] is None
    assert patched["reminder_at"] is None
    assert patched["recurrence_rule"] is None
    assert patched["is_recurring"] is False
    assert patched["due_date"] == FULL["due_date"]
    assert patched["tags"] == FULL["tags"]
    cleared = client.patch(url, json={"due_date": None}, headers=auth_headers).get_json()
    assert cleared["due_date"] is None


@pytest.mark.parametrize("field", ["title", "completed", "priority", "tags"])
def test_patch_null_is_refused_for_non_nullable_fields(client, auth_headers, create_task, field):
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    assert_invalid(client.patch(url, json={field: None}, headers=auth_headers), field)
    assert client.get(url, headers=auth_headers).get_json() == task


def test_a_refused_put_changes_nothing(client, auth_headers, create_task):
    task = create_task(**FULL)
    url = f"/v1/tasks/{task['id']}"
    for body, field in (
        ({"title": "t" * 501}, "title"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "recurrence_rule": "FREQ=DAILY"}, "recurrence_rule"),
        (
            {
                "title": "ok",
                "due_date": "2026-01-01T00:00:00Z",
                "reminder_at": "2026-01-02T00:00:00Z",
            },
            "reminder_at",
        ),
    ):
        assert_invalid(client.put(url, json=body, headers=auth_headers), field)
    assert client.get(url, headers=auth_headers).get_json() == task
