"""Regressions the API fuzzer found, pinned as plain tests."""

from conftest import assert_problem


def test_if_none_match_star_answers_304_with_the_etag(client, auth_headers, create_task):
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]
    response = client.get(url, headers={**auth_headers, "If-None-Match": "*"})
    assert response.status_code == 304
    assert response.headers["ETag"] == etag


def test_patch_without_a_body_is_refused_and_changes_nothing(client, auth_headers, create_task):
    task = create_task(title="Keep me")
    url = f"/v1/tasks/{task['id']}"
    body = assert_problem(client.patch(url, headers=auth_headers), 422, "validation_error")
    assert body["errors"] == {"json": {"_schema": ["A JSON body is required."]}}
    assert client.get(url, headers=auth_headers).get_json() == task


def test_error_responses_the_hooks_give_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "503" in responses, (method, path)
            if method in ("post", "put", "patch"):
                assert "415" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), (method, path)
    pagination = spec["paths"]["/v1/tasks"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    assert pagination["content"]["application/json"]["schema"]["type"] == "object"
