"""Authentication, scopes, rate limits and the error shape on every failure."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django_tenants.utils import schema_context

from crm.accounts.models import ApiKey
from crm.accounts.services import api_key_revoke, hash_api_key
from crm.api.errors import exception_handler, handler500
from tests.conftest import error_of

CUSTOMERS = "/t/alpha-golf/api/v1/customers"


def test_no_credentials_is_401_with_a_challenge(clubs, api):
    response = api().get(CUSTOMERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer crm_not-a-real-key",
        "Bearer not-even-our-format",
        "Bearer",
        "Bearer two parts",
        "Bearer " + "x" * 5000,
    ],
)
def test_bad_keys_are_401(clubs, api, header):
    response = api(HTTP_AUTHORIZATION=header).get(CUSTOMERS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_other_auth_schemes_are_not_ours_and_answer_401(clubs, api):
    response = api(HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4=").get(CUSTOMERS)
    assert response.status_code == 401


def test_revoked_key_is_401_at_once(clubs, api, make_key):
    raw_key = make_key(clubs.alpha)
    client = api(raw_key)
    assert client.get(CUSTOMERS).status_code == 200
    with schema_context(clubs.alpha.schema_name):
        api_key_revoke(api_key=ApiKey.objects.get(key_hash=hash_api_key(raw_key)))
    response = client.get(CUSTOMERS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_keys_are_stored_only_as_hashes(clubs, make_key):
    raw_key = make_key(clubs.alpha)
    with schema_context(clubs.alpha.schema_name):
        key = ApiKey.objects.get(key_hash=hash_api_key(raw_key))
        stored = [str(value) for value in key.__dict__.values()]
    assert raw_key not in stored
    assert key.prefix == raw_key[:12]


def test_missing_scope_is_403(clubs, api, make_key):
    response = api(make_key(clubs.alpha, "events:write")).get(CUSTOMERS)
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_tenant_endpoint_admits_any_valid_key_and_names_its_scopes(clubs, api, make_key):
    response = api(make_key(clubs.alpha, "events:write")).get("/t/alpha-golf/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["meta"] == {"scopes": ["events:write"]}


def test_unsupported_method_is_405_even_without_write_scope(clubs, api, make_key):
    response = api(make_key(clubs.alpha)).delete("/t/alpha-golf/api/v1/tenant")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_unknown_endpoint_is_json_404(clubs, api, make_key):
    response = api(make_key(clubs.alpha)).get("/t/alpha-golf/api/v1/no-such-thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_unknown_customer_and_malformed_id_are_404(clubs, api, make_key):
    client = api(make_key(clubs.alpha))
    for ref in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1;DROP TABLE"):
        response = client.get(f"{CUSTOMERS}/{ref}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("take=0", "take"),
        ("take=101", "take"),
        ("skip=-1", "skip"),
        ("skip=abc", "skip"),
        ("email=not-an-email", "email"),
        ("phoneNumber=banana", "phoneNumber"),
        ("sclMemberId=abc", "sclMemberId"),
        ("sclMemberId=99999999999999999999999", "sclMemberId"),
    ],
)
def test_bad_list_parameters_name_the_field(clubs, api, make_key, query, field):
    response = api(make_key(clubs.alpha)).get(f"{CUSTOMERS}?{query}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert list(error["details"]) == [field]


def test_oversized_body_is_413_before_it_is_read(clubs, api, make_key, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = api(make_key(clubs.alpha)).post(
        "/t/alpha-golf/graphql", data="x" * 2000, content_type="application/json"
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_invalid_json_is_400(clubs, api, make_key):
    response = api(make_key(clubs.alpha)).post(
        "/t/alpha-golf/graphql", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_rate_limit_is_per_key_with_retry_after(clubs, api, make_key, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "read": "3/min",
        },
    }
    first, second = api(make_key(clubs.alpha)), api(make_key(clubs.alpha))
    assert [first.get(CUSTOMERS).status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get(CUSTOMERS)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert error_of(limited)["code"] == "rate_limited"
    assert second.get(CUSTOMERS).status_code == 200  # another key has its own budget


def test_request_id_is_echoed_or_made(clubs, api):
    response = api(HTTP_X_REQUEST_ID="upstream-req-12345").get(CUSTOMERS)
    assert response["X-Request-ID"] == "upstream-req-12345"
    assert error_of(response)["requestId"] == "upstream-req-12345"
    response = api(HTTP_X_REQUEST_ID="<script>").get(CUSTOMERS)
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_a_crash_is_a_500_in_the_error_shape_without_internals(caplog):
    response = exception_handler(RuntimeError("password=hunter2 in SQL"), {"view": object()})
    assert response.status_code == 500
    body = response.content.decode()
    assert "hunter2" not in body
    assert '"code": "server_error"' in body
    assert "hunter2" in caplog.text  # logged for us, not shown to them


def test_django_level_500_is_json_outside_the_admin():
    request = RequestFactory().get("/t/alpha-golf/api/v1/customers")
    response = handler500(request)
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"


def test_refusals_are_logged_with_their_request_id(clubs, api, caplog):
    for url in ("/t/no-such-club/api/v1/tenant", CUSTOMERS):
        caplog.clear()
        response = api().get(url)
        records = [r for r in caplog.records if r.name == "django.request"]
        assert records, url
        assert records[-1].request_id == response["X-Request-ID"]
