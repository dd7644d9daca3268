"""With club A's key or login, every club-B URL (slug and UUID forms) answers 401/403/404 and
never shows B's data. The URL list is checked against the tenant URL conf, so a new endpoint
without a case here fails this file."""

from __future__ import annotations

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import schema_context

from profiles.models import Customer
from tests.conftest import STAFF_PASSWORD

# Route name -> path under /t/<ref>/ ({customer} is B's customer, {segment} B's segment).
CASES = {
    "tenant": "api/v1/tenant",
    "dashboard": "api/v1/dashboard",
    # The tee-sheet gap filler ({customer}: just some id of B's here).
    "tee-sheet-settings": "api/v1/tee-sheet/settings",
    "tee-sheet-slots": "api/v1/tee-sheet/slots",
    "tee-sheet-gaps": "api/v1/tee-sheet/gaps",
    "tee-sheet-gap": "api/v1/tee-sheet/gaps/{customer}",
    "tee-sheet-summary": "api/v1/tee-sheet/summary",
    # Pages a golfer opens from a signed link: the link names its club (profiles.rounds), and
    # tests/test_four_ball_and_survey.py shows one club's link refused at another's address.
    "round-survey": None,
    "round-guests": None,
    "customers-list": "api/v1/customers",
    "customers-detail": "api/v1/customers/{customer}",
    "customers-resolve": "api/v1/customers/resolve",
    "customers-activities": "api/v1/customers/{customer}/activities",
    "customers-merge": "api/v1/customers/{customer}/merge",
    "customers-unmerge": "api/v1/customers/{customer}/unmerge",
    "customers-notes": "api/v1/customers/{customer}/notes",
    "customers-tags": "api/v1/customers/{customer}/tags",
    "customers-export": "api/v1/customers/{customer}/export",
    "customers-erase": "api/v1/customers/{customer}/erase",
    "events": "api/v1/events",
    "segments-list": "api/v1/segments",
    "segments-preview": "api/v1/segments/preview",
    "segments-templates": "api/v1/segments/templates",
    "segments-fields": "api/v1/segments/fields",
    "segments-rule-schema": None,  # the rule's JSON Schema: the same for every club
    "segments-detail": "api/v1/segments/{segment}",
    "segments-members": "api/v1/segments/{segment}/members",
    "segments-refresh": "api/v1/segments/{segment}/refresh",
    "segments-import": "api/v1/segments/{segment}/import",
    "segments-snapshot": "api/v1/segments/{segment}/snapshot",
    "segments-changes": "api/v1/segments/{segment}/changes",
    "schema": None,  # public document of the API's shape, no club data (tested below)
    "api-docs": None,
    "graphql": "graphql",
    # Social Publisher ({customer} is just some UUID of B's here; tests/test_social_api.py
    # repeats these with B's real accounts, posts and image URLs).
    "social-accounts-list": "api/v1/social/accounts",
    "social-accounts-detail": "api/v1/social/accounts/{customer}",
    "social-images": "api/v1/social/images",
    "social-media": "api/v1/social/media/{customer}",
    "social-posts-list": "api/v1/social/posts",
    "social-posts-detail": "api/v1/social/posts/{customer}",
    "social-posts-schedule": "api/v1/social/posts/{customer}/schedule",
    "social-posts-approve": "api/v1/social/posts/{customer}/approve",
    "social-posts-reject": "api/v1/social/posts/{customer}/reject",
    "social-posts-cancel": "api/v1/social/posts/{customer}/cancel",
    "social-posts-request-approval": "api/v1/social/posts/{customer}/request-approval",
    "social-posts-reschedule": "api/v1/social/posts/{customer}/reschedule",
    "social-networks": "api/v1/social/networks",
    "social-calendar": "api/v1/social/calendar?from=2026-01-01&to=2026-01-31",
    # Competition auto-promotion ({customer} and {segment}: just UUIDs of B's here).
    "social-promotions-list": "api/v1/social/promotions",
    "social-promotions-detail": "api/v1/social/promotions/{customer}",
    "social-promotions-stop": "api/v1/social/promotions/{customer}/stop",
    "social-promotion-items-detail": "api/v1/social/promotions/{customer}/items/{segment}",
    "social-promotion-items-cancel": "api/v1/social/promotions/{customer}/items/{segment}/cancel",
    "social-promotion-settings": "api/v1/social/promotion-settings",
    # Campaigns ({campaign} is B's campaign); the unsubscribe page takes a signed send id.
    "campaigns-list": "api/v1/campaigns",
    "campaigns-detail": "api/v1/campaigns/{campaign}",
    "campaigns-schedule": "api/v1/campaigns/{campaign}/schedule",
    "campaigns-send": "api/v1/campaigns/{campaign}/send",
    "campaigns-pause": "api/v1/campaigns/{campaign}/pause",
    "campaigns-resume": "api/v1/campaigns/{campaign}/resume",
    "campaigns-cancel": "api/v1/campaigns/{campaign}/cancel",
    "campaigns-stats": "api/v1/campaigns/{campaign}/stats",
    "campaigns-preview": "api/v1/campaigns/{campaign}/preview",
    "campaigns-test-send": "api/v1/campaigns/{campaign}/test-send",
    # Templates (the club's own or the Messaging Service's): a starter's id every club has.
    "templates-list": "api/v1/templates",
    "templates-preview": "api/v1/templates/newsletter/preview",
    "campaigns-review": "api/v1/campaigns/{campaign}/review",
    "campaigns-results": "api/v1/campaigns/{campaign}/results",
    # Journeys ({journey}, {enrolment}, {task}: B's journey, its enrolment of B's customer and
    # a staff task about them).
    "journeys-list": "api/v1/journeys",
    "journeys-schema": "api/v1/journeys/schema",
    "journeys-detail": "api/v1/journeys/{journey}",
    "journeys-publish": "api/v1/journeys/{journey}/publish",
    "journeys-pause": "api/v1/journeys/{journey}/pause",
    "journeys-resume": "api/v1/journeys/{journey}/resume",
    "journeys-archive": "api/v1/journeys/{journey}/archive",
    "journeys-versions": "api/v1/journeys/{journey}/versions",
    "journeys-enrol": "api/v1/journeys/{journey}/enrol",
    "journeys-enrolments": "api/v1/journeys/{journey}/enrolments",
    "journeys-stats": "api/v1/journeys/{journey}/stats",
    "journeys-migrate": "api/v1/journeys/{journey}/migrate",
    "enrolments-detail": "api/v1/enrolments/{enrolment}",
    "enrolments-exit": "api/v1/enrolments/{enrolment}/exit",
    "customers-journeys": "api/v1/customers/{customer}/journeys",
    "journey-templates": "api/v1/journey-templates",
    "journey-templates-copy": "api/v1/journey-templates/birthday/copy",
    "staff-tasks-list": "api/v1/staff-tasks",
    "staff-tasks-complete": "api/v1/staff-tasks/{task}/complete",
    # A recipient's capability link: public by design; a token that is not B's is a 404 that
    # names no club (tests/test_campaigns_api.py: A's valid token under B's URL).
    "campaigns-unsubscribe": "unsubscribe/{customer}",
}
ADMIN_PATHS = [
    "admin/", "admin/profiles/customer/", "admin/profiles/customer/{customer}/change/",
    "admin/social/post/calendar/",
    "admin/social/post/calendar/feed/?start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z",
]  # fmt: skip


def _named_routes(patterns, prefix="") -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in ("club_admin",):
                continue
            names |= _named_routes(entry.url_patterns)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(entry.name)
    return names


def test_every_named_club_route_has_a_cross_tenant_case():
    assert _named_routes(get_resolver("crm.urls_tenant").url_patterns) == set(CASES)


@pytest.fixture
def bravo_customer(clubs) -> Customer:
    with schema_context(clubs.bravo.schema_name):
        return Customer.objects.create(
            first_name="Bríd", last_name="Secret", email="brid.secret@bravo.example"
        )


@pytest.fixture
def bravo_ids(clubs, bravo_customer) -> dict[str, str]:
    """The ids of club B's objects that the paths in CASES name."""
    from campaigns.models import Campaign
    from segments.models import Segment

    with schema_context(clubs.bravo.schema_name):
        segment = Segment.objects.create(name="Bravo Secret Segment", type="STATIC")
        campaign = Campaign.objects.create(name="Bravo Secret Campaign", channels=["EMAIL"])
        journey, enrolment, task = _bravo_journey(bravo_customer)
    return {
        "customer": str(bravo_customer.id),
        "segment": str(segment.id),
        "campaign": str(campaign.id),
        "journey": str(journey.id),
        "enrolment": str(enrolment.id),
        "task": str(task.id),
    }


def _bravo_journey(customer: Customer):
    """A published journey of B's with B's customer in it and a staff task about them."""
    from django.utils import timezone

    from journeys.definition import empty_definition
    from journeys.models import Enrolment, Journey, JourneyVersion, StaffTask

    now = timezone.now()
    journey = Journey.objects.create(
        name="Bravo Secret Journey", definition=empty_definition(), status="ACTIVE"
    )
    version = JourneyVersion.objects.create(
        journey=journey, number=1, definition=empty_definition(), published_at=now
    )
    journey.published_version = version
    journey.save()
    enrolment = Enrolment.objects.create(
        journey=journey, version=version, customer=customer, status="ACTIVE", step="end",
        due_at=now, entry_key="secret", source="MANUAL", entered_at=now, step_entered_at=now,
    )  # fmt: skip
    task = StaffTask.objects.create(
        customer=customer, journey=journey, enrolment=enrolment, step="end",
        title="Secret call", assigned_to="STAFF", created_at=now,
    )  # fmt: skip
    return journey, enrolment, task


def _leaks(response, customer: Customer) -> bool:
    body = response.content.decode()
    return any(
        value in body for value in (str(customer.id), customer.email, "Secret", "Bravo Golf")
    )


@pytest.mark.parametrize("ref_kind", ["slug", "uuid"])
def test_club_a_key_gets_nothing_from_club_b(
    clubs, api, make_key, bravo_customer, bravo_ids, ref_kind
):
    ref = "bravo-golf" if ref_kind == "slug" else str(clubs.bravo.id)
    client = api(make_key(clubs.alpha, "crm:read,crm:write,crm:admin,events:write"))
    graphql = json.dumps({"query": "{ tenant { name } customers { total } }"})
    for path in [p for p in CASES.values() if p]:
        url = f"/t/{ref}/{path.format(**bravo_ids)}"
        responses = [
            client.get(url),
            client.post(url, data=graphql, content_type="application/json"),
        ]
        for response in responses:
            assert response.status_code in (401, 403, 404, 405), (url, response.status_code)
            assert not _leaks(response, bravo_customer), url


@pytest.mark.parametrize("ref_kind", ["slug", "uuid"])
def test_club_a_staff_session_gets_nothing_from_club_b(
    clubs, api, make_staff, bravo_customer, bravo_ids, ref_kind
):
    email = make_staff(clubs.alpha, "ADMIN")
    client = api()
    assert (
        client.post(
            "/t/alpha-golf/admin/login/",
            {"username": email, "password": STAFF_PASSWORD, "next": "/t/alpha-golf/admin/"},
        ).status_code
        == 302
    )
    assert client.get("/t/alpha-golf/admin/").status_code == 200
    assert client.get("/t/alpha-golf/api/v1/customers").status_code == 200

    ref = "bravo-golf" if ref_kind == "slug" else str(clubs.bravo.id)
    for path in [p for p in CASES.values() if p] + ADMIN_PATHS:
        url = f"/t/{ref}/{path.format(**bravo_ids)}"
        response = client.get(url)
        if path.startswith("admin/"):
            # B's admin does not know this session: back to B's login page.
            assert response.status_code == 302, url
            assert "/login/" in response["Location"]
        else:
            assert response.status_code in (401, 403, 404), (url, response.status_code)
        assert not _leaks(response, bravo_customer), url


def test_club_a_staff_cannot_log_in_to_club_b(clubs, api, make_staff):
    email = make_staff(clubs.alpha, "ADMIN")
    response = api().post(
        "/t/bravo-golf/admin/login/",
        {"username": email, "password": STAFF_PASSWORD, "next": "/t/bravo-golf/admin/"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert "Please enter the correct email address and password" in response.content.decode()


def test_openapi_document_of_b_holds_no_club_data(clubs, api, bravo_customer):
    response = api().get("/t/bravo-golf/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert not _leaks(response, bravo_customer)


def test_rate_limit_counters_are_per_club(clubs):
    """Cache keys carry the schema, so the same logical key never collides across clubs."""
    from django.core.cache import cache

    with schema_context(clubs.alpha.schema_name):
        cache.set("probe", "alpha")
    with schema_context(clubs.bravo.schema_name):
        assert cache.get("probe") is None
        cache.set("probe", "bravo")
    with schema_context(clubs.alpha.schema_name):
        assert cache.get("probe") == "alpha"


def test_staff_of_two_clubs_stay_signed_in_to_both(clubs, api, make_staff):
    client = api()
    for tenant, slug in ((clubs.alpha, "alpha-golf"), (clubs.bravo, "bravo-golf")):
        email = make_staff(tenant, "ADMIN", email="pro@two-clubs.example")
        response = client.post(
            f"/t/{slug}/admin/login/",
            {"username": email, "password": STAFF_PASSWORD, "next": f"/t/{slug}/admin/"},
        )
        assert response.status_code == 302
        assert f"sessionid_{tenant.schema_name}" in response.cookies
    for slug in ("alpha-golf", "bravo-golf", "alpha-golf"):
        assert client.get(f"/t/{slug}/admin/").status_code == 200, slug
