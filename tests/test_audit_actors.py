"""Issue 19: an audit row names who acted by foreign key (the key, or the staff account) and keeps
the label, whichever surface the write came through: REST (crm.api.views.TenantAPIView),
GraphQL (mutations in tests/test_graphql_base_mutation.py; here a query that audits), the club
admin and its campaign composer (ClubAdminSite.admin_view). The caller is held in a ContextVar
for the request only: nothing is left behind for the next request, another thread, a task or a
command, and a club's key or account is never named in another club's rows."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django_tenants.utils import schema_context

from crm.accounts.models import ApiKey, AuditEntry, User
from crm.accounts.services import Actor, acting_actor, acting_as, audit_record
from profiles.models import Customer
from segments.models import Segment
from segments.services import segment_create
from tests.conftest import STAFF_PASSWORD

SEGMENTS = "/t/alpha-golf/api/v1/segments"


def _post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _entry(clubs, **filters) -> AuditEntry:
    with schema_context(clubs.alpha.schema_name):
        return AuditEntry.objects.select_related("actor_user", "actor_api_key").get(**filters)


@pytest.fixture
def admin_login(clubs, api, make_staff):
    """`admin_login("MARKETING")` -> (a client signed in to alpha's admin, the email)."""

    def _login(role: str):
        email = make_staff(clubs.alpha, role)
        client = api()
        response = client.post(
            "/t/alpha-golf/admin/login/",
            {"username": email, "password": STAFF_PASSWORD, "next": "/t/alpha-golf/admin/"},
        )
        assert response.status_code == 302, response.content
        return client, email

    return _login


# --- REST ---------------------------------------------------------------------------------------


def test_a_rest_write_with_a_key_names_the_key(clubs, api, make_key):
    response = _post(
        api(make_key(clubs.alpha, "crm:read,crm:write")),
        SEGMENTS,
        {"name": "Seniors", "type": "STATIC"},
    )
    assert response.status_code == 201, response.content
    entry = _entry(clubs, action="segment.create")
    with schema_context(clubs.alpha.schema_name):
        assert entry.actor_api_key == ApiKey.objects.get(name="test")
    assert entry.actor_user is None
    assert entry.actor_label.startswith("api-key:")  # the label is kept
    assert acting_actor() is None  # and nothing is left behind once the response is made


def test_a_rest_write_in_a_staff_session_names_the_staff_member(clubs, api, make_staff):
    client = api()
    email = make_staff(clubs.alpha, "MARKETING")
    with schema_context(clubs.alpha.schema_name):  # the session lives in the club's schema
        assert client.login(username=email, password=STAFF_PASSWORD)
    response = _post(client, SEGMENTS, {"name": "Seniors", "type": "STATIC"})
    assert response.status_code == 201, response.content
    entry = _entry(clubs, action="segment.create")
    assert entry.actor_user is not None and entry.actor_user.email == email
    assert entry.actor_api_key is None
    assert entry.actor_label == email


def test_a_graphql_query_that_audits_names_the_key(clubs, api, make_key):
    """Queries are not mutations (no BaseMutation): the export's audit row gets its key from
    the REST base view GraphQL is served behind."""
    with schema_context(clubs.alpha.schema_name):
        customer = Customer.objects.create(first_name="Zebedee", last_name="Quinn")
    client = api(make_key(clubs.alpha, "crm:read,crm:admin"))
    response = _post(
        client,
        "/t/alpha-golf/graphql",
        {"query": f'{{ customerExport(id: "{customer.id}") }}'},
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"]["customerExport"] is not None, response.content
    entry = _entry(clubs, action="customer.exported")
    assert entry.actor_api_key is not None and entry.actor_api_key.name == "test"
    assert entry.actor_label.startswith("api-key:")


def test_a_key_of_one_club_writes_no_audit_row_in_another(clubs, api, make_key):
    alpha_key = make_key(clubs.alpha, "crm:read,crm:write")
    response = _post(
        api(alpha_key), "/t/bravo-golf/api/v1/segments", {"name": "Seniors", "type": "STATIC"}
    )
    assert response.status_code == 401
    with schema_context(clubs.bravo.schema_name):
        assert not Segment.objects.exists()
        assert not AuditEntry.objects.filter(action="segment.create").exists()


# --- the club admin -----------------------------------------------------------------------------


def _admin_add_segment(client, name: str):
    return client.post(
        "/t/alpha-golf/admin/segments/segment/add/",
        {"name": name, "description": "", "type": "STATIC", "refresh": "DAILY", "rules": "",
         "template_key": "", "_save": "Save"},
    )  # fmt: skip


def test_an_admin_form_names_the_staff_member(clubs, admin_login):
    client, email = admin_login("MARKETING")
    response = _admin_add_segment(client, "Seniors")
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = _entry(clubs, action="segment.create")
    assert entry.actor_user is not None and entry.actor_user.email == email
    assert entry.actor_api_key is None and entry.actor_label == email
    assert acting_actor() is None


def test_the_campaign_composer_names_the_staff_member(clubs, admin_login):
    client, email = admin_login("MARKETING")
    with schema_context(clubs.alpha.schema_name):
        segment = Segment.objects.create(name="Members", type="STATIC")
    response = client.post(
        "/t/alpha-golf/admin/campaigns/campaign/compose/",
        {"name": "Club night", "include": [segment.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = _entry(clubs, action="campaign.create")
    assert entry.actor_user is not None and entry.actor_user.email == email
    assert entry.actor_label == email


# --- nothing left behind --------------------------------------------------------------------------


def test_after_requests_a_service_or_task_names_no_actor(clubs, api, make_key, admin_login):
    client, _email = admin_login("MARKETING")
    assert _admin_add_segment(client, "By staff").status_code == 302
    keyed = api(make_key(clubs.alpha, "crm:read,crm:write"))
    assert _post(keyed, SEGMENTS, {"name": "By key", "type": "STATIC"}).status_code == 201
    # A request the service refuses (its ValidationError, the transaction rolled back) resets
    # the caller too.
    refused = _post(keyed, SEGMENTS, {"name": "by KEY", "type": "STATIC"})
    assert refused.status_code == 400

    assert acting_actor() is None
    with schema_context(clubs.alpha.schema_name):
        # What a Celery task or a management command does: a service call outside any request.
        segment_create(name="By a task", type="STATIC", actor_label="task")
        entry = AuditEntry.objects.get(action="segment.create", details__name="By a task")
        assert entry.actor_user is None and entry.actor_api_key is None
        assert entry.actor_label == "task"
        assert AuditEntry.objects.filter(action="segment.create").count() == 3


def test_the_actor_is_not_seen_by_another_thread(clubs):
    with schema_context(clubs.alpha.schema_name):
        user = User.objects.create_user(email="thread@alpha.example", password=STAFF_PASSWORD)
        seen: list[Actor | None] = []
        with acting_as(Actor(label=user.email, user=user)):
            assert acting_actor() is not None
            thread = threading.Thread(target=lambda: seen.append(acting_actor()))
            thread.start()
            thread.join()
        assert seen == [None]

        # A pooled worker thread (gunicorn's gthread) serving one request then the next.
        def serve(actor: Actor | None) -> Actor | None:
            if actor is None:
                return acting_actor()
            with acting_as(actor):
                return acting_actor()

        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(serve, Actor(label=user.email, user=user)).result() is not None
            assert pool.submit(serve, None).result() is None


def test_a_clubs_actor_is_never_named_in_another_clubs_rows(clubs, make_key):
    make_key(clubs.alpha, "crm:write")
    with schema_context(clubs.alpha.schema_name):
        key = ApiKey.objects.get(name="test")
        with acting_as(Actor(label="api-key:alpha", api_key=key)):
            with schema_context(clubs.bravo.schema_name):
                assert acting_actor() is None
                elsewhere = audit_record(action="test.elsewhere")
                assert elsewhere.actor_api_key_id is None and elsewhere.actor_label == ""
            here = audit_record(action="test.here")
            assert here.actor_api_key_id == key.id and here.actor_label == "api-key:alpha"


def test_the_audit_log_page_names_the_key_and_the_person(clubs, api, make_key, admin_login):
    """The admin's audit log says who by name ("API key “test”", a staff email), not the label
    code a service wrote ("api-key:crm_…")."""
    response = _post(
        api(make_key(clubs.alpha, "crm:read,crm:write")),
        SEGMENTS,
        {"name": "Juniors", "type": "STATIC"},
    )
    assert response.status_code == 201, response.content
    client, email = admin_login("ADMIN")
    _admin_add_segment(client, "Seniors by hand")
    page = client.get("/t/alpha-golf/admin/accounts/auditentry/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "API key “test”" in text
    assert email in text
    assert "api-key:crm_" not in text
    assert "Segment: create" in text  # the action in words, not its code
    assert ">segment.create<" not in text and 'title="segment.create"' not in text  # shown
