"""API fuzzing: schemathesis over every operation the OpenAPI document lists, with all its checks.

Every phase runs (explicit examples, coverage of boundary values, random fuzzing, and the stateful
phase that chains operations through the links it infers, e.g. create then get/patch/delete), as a
logged-in user. A second user replays every task id the first one touches and must get 404
(object-level authorization). The run is bounded by FUZZ_MAX_EXAMPLES (examples per operation and
phase) so that it fits in CI; FUZZ_SEED makes it reproducible.

The engine talks to the app through waitress on a loopback socket in this process: schemathesis
4.32's in-process WSGI transport passes `max_redirects` to werkzeug's test client from the
`ignored_auth` check's probe and errors, so that check could not run in-process.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from flask_jwt_extended import create_access_token
from live import threaded_server
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from taskapi.services.users import create_user

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
SEED = int(os.environ.get("FUZZ_SEED", "20261122"))

#: Operations that take an If-Match header, by (method, path).
IF_MATCH_OPERATIONS = r"^/v1/(users/\{user_id\}/)?tasks/\{task_id\}"
#: Operations whose body is a task (create, replace, change).
TASK_BODY_OPERATIONS = r"^/v1/(users/\{user_id\}/)?tasks(/\{task_id\})?$"
DEFAULT_POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def fuzz_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # Each run starts afresh: no state carried over from earlier runs on this machine.
            "cache": {"enabled": False},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                # Text the database cannot store (NUL, lone surrogates) is refused with 422 by
                # contract, which JSON Schema cannot say (tests/owasp/test_api4_* pins it). Generate
                # storable text so that "schema-valid" means valid here too.
                "codec": "utf-8",
                "allow-x00": False,
            },
            "phases": {
                name: {"enabled": True} for name in ("examples", "coverage", "fuzzing", "stateful")
            },
            # Every check is on. Two get an extra expected status on some operations:
            "operations": [
                {
                    # An If-Match header with a made-up ETag is schema-valid, and a stale tag is a
                    # 412 by contract: the generator cannot know the current ETag.
                    "include-path-regex": IF_MATCH_OPERATIONS,
                    "include-method": ["PUT", "PATCH", "DELETE", "POST"],
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*DEFAULT_POSITIVE_STATUSES, "412", "422"]
                        }
                    },
                },
                {
                    # Rules JSON Schema cannot express: the RRULE grammar, a rule needs a due_date,
                    # reminder_at not after due_date, a title or tag that is only white space. A
                    # schema-valid body can break them, so 422 is allowed here, and the
                    # `valid_bodies_refused_only_for_rules_schema_cannot_state` check below
                    # verifies that each such 422 names one of those rules and nothing else.
                    "include-path-regex": TASK_BODY_OPERATIONS,
                    "include-method": ["POST", "PUT", "PATCH"],
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*DEFAULT_POSITIVE_STATUSES, "412", "422"]
                        }
                    },
                },
            ],
        }
    )


@dataclass
class FuzzRun:
    """What the active run's custom checks need, and what they found."""

    base_url: str
    peer_headers: dict[str, str]
    probed_ids: set[str] = field(default_factory=set)


_active: FuzzRun | None = None

# Rules JSON Schema cannot state: the RRULE grammar, reminder_at <= due_date, a blank title or
# tag once trimmed, and (list_tasks) due_date_from <= due_date_to.
_RULES_OUTSIDE_JSON_SCHEMA = {
    "recurrence_rule",
    "reminder_at",
    "title",
    "tags",
    "due_date_from",
}


@schemathesis.check
def valid_bodies_refused_only_for_rules_schema_cannot_state(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """A schema-valid task body refused with 422 names only rules JSON Schema cannot express."""
    if _active is None or response.status_code != 422 or case.meta is None:
        return None
    if case.meta.generation.mode.is_negative or not isinstance(case.body, dict):
        return None
    errors = response.json().get("errors") or {}
    fields = set(errors.get("json") or {})
    if set(errors) != {"json"} or not fields <= _RULES_OUTSIDE_JSON_SCHEMA:
        raise AssertionError(f"schema-valid body refused for {sorted(errors)}: {errors}")
    body = case.body
    if "due_date_from" in fields and not (body.get("due_date_from") and body.get("due_date_to")):
        raise AssertionError("due_date_from refused without a due_date_to to compare it with")
    if "title" in fields and str(body.get("title", "x")).strip():
        raise AssertionError(f"title {body.get('title')!r} refused although not blank")
    if "tags" in fields:
        tags = [str(tag) for tag in body.get("tags") or []]
        distinct = {tag.strip().casefold() for tag in tags}
        if all(tag.strip() for tag in tags) and len(distinct) <= 20:
            raise AssertionError(f"tags {tags!r} refused although valid")
    return True


@schemathesis.check
def other_users_get_404_for_these_ids(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every task id the fuzzed user reads or creates is invisible to another user (404)."""
    run = _active
    if run is None or not 200 <= response.status_code < 300:
        return None
    task_id = case.path_parameters.get("task_id") if case.path_parameters else None
    if task_id is None and case.method == "POST" and case.operation.path == "/v1/tasks":
        task_id = response.json().get("id")
    if not task_id or str(task_id) in run.probed_ids:
        return None
    run.probed_ids.add(str(task_id))
    url = f"{run.base_url}/v1/tasks/{task_id}"
    headers = run.peer_headers
    attempts = [
        requests.get(url, headers=headers, timeout=10),
        requests.patch(url, json={"title": "taken"}, headers=headers, timeout=10),
        requests.post(f"{url}/complete", headers=headers, timeout=10),
        requests.delete(url, headers=headers, timeout=10),
    ]
    for attempt in attempts:
        if attempt.status_code != 404:
            raise AssertionError(
                f"another user got {attempt.status_code} for {attempt.request.method} {url}"
            )
    listed = requests.get(f"{run.base_url}/v1/tasks?page_size=100", headers=headers, timeout=10)
    if str(task_id) in listed.text:
        raise AssertionError(f"another user's list shows task {task_id}")
    return True


@dataclass
class Report:
    cases: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_engine(schema: Any) -> Report:
    report = Report()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.cases += len(event.recorder.cases)
            report.phases[str(event.phase.value)] += len(event.recorder.cases)
            for results in event.recorder.checks.values():
                for result in results:
                    report.checks[result.name] += 1
                    if result.status == Status.FAILURE and result.failure_info is not None:
                        info = result.failure_info
                        report.failures.append(
                            f"{event.label} [{result.name}] {info.failure.title}\n"
                            f"{info.failure.message}\n{info.code_sample}"
                        )
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            report.errors.append(f"{getattr(event, 'label', '')}: {event.info.format()}")
        elif isinstance(event, events.EngineFinished):
            report.failures += [f"[after run] {failure.title}" for failure in event.failures]
    return report


def _token_for(app: Flask, user_id: uuid.UUID) -> str:
    with app.app_context():
        return create_access_token(identity=str(user_id))


def test_fuzz_every_operation_with_all_checks_including_stateful(app: Flask) -> None:
    global _active
    with app.app_context():
        owner = create_user("fuzz-owner@example.com", "correct horse battery").id
        peer = create_user("fuzz-peer@example.com", "correct horse battery").id

    with threaded_server(app, threads=4) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=fuzz_config())

        # A fresh token for every request: the fuzzer also calls /v1/auth/logout, which revokes
        # the token it is given.
        @schema.auth(refresh_interval=None)
        class OwnerToken:
            def get(self, case: Any, ctx: Any) -> str:
                return _token_for(app, owner)

            def set(self, case: Any, data: str, ctx: Any) -> None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

        run = FuzzRun(base_url, {"Authorization": f"Bearer {_token_for(app, peer)}"})
        _active = run
        try:
            report = run_engine(schema)
        finally:
            _active = None

    operations = len(list(schema.get_all_operations()))
    print(
        f"\nfuzzing: {report.cases} cases over {operations} operations {dict(report.phases)}, "
        f"{sum(report.checks.values())} check runs, {len(run.probed_ids)} task ids "
        f"probed as another user, {len(report.failures)} failures"
    )
    assert not report.errors, "\n\n".join(report.errors[:5])
    assert not report.failures, "\n\n".join(report.failures[:10])
    # The run did exercise what it claims to.
    assert report.cases >= 20 * operations
    # The examples phase replays the document's request examples; it has none so far.
    for phase in ("coverage", "fuzzing", "stateful"):
        assert report.phases[phase] > 0, f"the {phase} phase ran no case"
    for check in (
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "content_type_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
        "other_users_get_404_for_these_ids",
    ):
        assert report.checks[check] > 0, f"{check} never ran"
    assert len(run.probed_ids) >= 5
