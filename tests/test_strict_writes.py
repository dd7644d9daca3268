"""Strict writes (issue 16): unknown fields and wrong types are 400s naming the field, and a write
that fails validation leaves nothing behind (one mechanism: crm.api.serializers.InputSerializer
and TenantAPIView's transaction per write)."""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from segments.models import Segment
from social.models import Post
from tests.conftest import error_of
from tests.test_campaigns_api import body as campaign_body
from tests.test_campaigns_api import segment  # noqa: F401 (fixture)
from tests.test_social_api import connect_accounts

CAMPAIGNS = "/t/alpha-golf/api/v1/campaigns"
SEGMENTS = "/t/alpha-golf/api/v1/segments"


def _post(client, url, data):
    return client.post(url, data=json.dumps(data), content_type="application/json")


def test_a_misspelt_field_is_refused_with_the_intended_name(clubs, api, make_key, segment):  # noqa: F811
    writer = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    response = _post(writer, CAMPAIGNS, campaign_body(segment, scheduled_at="2030-01-15T09:00"))
    assert response.status_code == 400
    details = error_of(response)["details"]
    assert details == {"scheduled_at": ["Unknown field. Did you mean 'scheduledAt'?"]}


def test_a_variant_subject_outside_content_is_refused(clubs, api, make_key, segment):  # noqa: F811
    writer = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    data = campaign_body(segment)
    data["variants"][0]["subject"] = "Entries open"
    response = _post(writer, CAMPAIGNS, data)
    assert response.status_code == 400
    assert list(error_of(response)["details"]) == ["variants[0].subject"]


def test_wrong_types_are_refused_not_coerced(clubs, api, make_key):
    writer = api(make_key(clubs.alpha, "crm:read,crm:write"))
    for data, field in (
        ({"name": 123, "type": "STATIC"}, "name"),
        ({"name": "x", "type": "STATIC", "description": ["a"]}, "description"),
    ):
        response = _post(writer, SEGMENTS, data)
        assert response.status_code == 400, response.content
        assert list(error_of(response)["details"]) == [field]
    with schema_context(clubs.alpha.schema_name):
        assert not Segment.objects.exists()
    created = _post(writer, SEGMENTS, {"name": "Committee", "type": "STATIC"}).json()["data"]
    response = _post(writer, f"{SEGMENTS}/{created['id']}/members", {"customerIds": [5]})
    assert response.status_code == 400
    assert list(error_of(response)["details"]) == ["customerIds"]


def test_a_post_that_fails_validation_is_not_left_as_a_draft(clubs, api, make_key):
    accounts = connect_accounts(clubs.alpha)
    social = api(make_key(clubs.alpha, "crm:social"))
    with schema_context(clubs.alpha.schema_name):
        audits = AuditEntry.objects.count()
    data = {
        "title": "Results",
        "variants": [{"accountId": str(accounts["x"].id), "text": "x" * 300}],
        "schedule": {"mode": "now"},
    }
    for _attempt in range(2):  # a retrying client
        response = _post(social, "/t/alpha-golf/api/v1/social/posts", data)
        assert response.status_code == 400
    with schema_context(clubs.alpha.schema_name):
        assert not Post.objects.exists()
        assert AuditEntry.objects.count() == audits
