"""Templates a person picks (issue 18): the club's own email templates (blocks → MJML → HTML
by MRML, the three starters in every club, variables only from the customer's fields, checked
at save and before sending), the Messaging Service's template list and preview through the
real HTTP client against a peer on 127.0.0.1, and both through REST and GraphQL with bad input
and another club's ids refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context

from campaigns.email_templates.blocks import blocks_errors
from campaigns.email_templates.models import ClubBranding, EmailTemplate
from campaigns.email_templates.selectors import (
    campaign_template_problems,
    template_preview,
    templates_list,
)
from campaigns.email_templates.services import email_template_create, email_template_update
from campaigns.email_templates.starters import STARTERS
from campaigns.models import Send
from campaigns.sending import run_deliver
from campaigns.testing import MessagingPeer
from tests.conftest import error_of
from tests.test_campaigns_sending import customer, make_campaign, no_quiet_hours, send_now
from tests.test_campaigns_sending import static_segment as segment_of

BASE = "/t/alpha-golf/api/v1/templates"
FALLBACK = {"MESSAGING_URL": "", "CAMPAIGN_TRANSPORT": ""}
PEER_TEMPLATES = {
    "tournament_invite": {
        "name": "Competition invite", "channel": "email",
        "subject": "Entries open: {{competitionName}}",
        "variables": ["firstName", "competitionName"],
        "html": "<p>Dear {{firstName}}, enter {{competitionName}}.</p>", "text": "Dear {{firstName}}",
    },
    "welcome": {
        "name": "Welcome", "channel": "email", "subject": "Welcome, {{firstName}}",
        "variables": ["firstName"], "html": "<p>Welcome {{firstName}}</p>", "text": "Welcome",
    },
    "reminder_sms": {
        "name": "Tee-time reminder", "channel": "sms", "variables": ["firstName"],
        "text": "Hi {{firstName}}, see you on the tee.",
    },
}  # fmt: skip


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name), override_settings(**FALLBACK):
        yield clubs.alpha


@pytest.fixture
def peer() -> Iterator[MessagingPeer]:
    with MessagingPeer(token="tpl-token") as running:
        running.state.templates.update(json.loads(json.dumps(PEER_TEMPLATES)))
        with override_settings(
            MESSAGING_URL=running.url, MESSAGING_TOKEN="tpl-token", CAMPAIGN_TRANSPORT=""
        ):
            yield running


@pytest.fixture
def reader(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read"))


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


BLOCKS = [
    {"type": "header", "tagline": "Club news"},
    {"type": "text", "heading": "Hello {{ firstName }}", "text": "Tee times & <news>."},
    {"type": "button", "label": "Book", "url": "https://alpha.example/book"},
    {"type": "footer"},
]


# --- blocks and the club's own templates ---------------------------------------------------------


def test_blocks_are_checked_field_by_field():
    errors = blocks_errors(
        [
            {"type": "text", "text": "Hi {{ firstNmae }}"},
            {"type": "button", "label": "Go", "url": "javascript:alert(1)"},
            {"type": "poll"},
            {"type": "image", "src": "https://x.example/a.png", "alt": "A", "colour": "red"},
        ]
    )
    assert "Unknown variable {{ firstNmae }}" in errors["blocks[0].text"][0]
    assert "first name" in errors["blocks[0].text"][0]  # the picker's choices, by label
    assert "https://" in errors["blocks[1].url"][0]
    assert "Not a block type" in errors["blocks[2].type"][0]
    assert errors["blocks[3].colour"]
    assert "footer" in errors["blocks"][0]


def test_the_three_starters_are_in_every_club_and_in_the_club_template(clubs):
    keys = {s["key"] for s in STARTERS}
    assert keys == {"newsletter", "competition_invite", "renewal_reminder"}
    from crm.tenants.template import template_schema_name

    for schema in (clubs.alpha.schema_name, clubs.bravo.schema_name, template_schema_name()):
        with schema_context(schema):
            assert set(EmailTemplate.objects.values_list("key", flat=True)) >= keys, schema
    connection.set_schema_to_public()


def test_a_starter_renders_to_responsive_inlined_html_for_a_customer(alpha):
    ClubBranding.objects.update_or_create(
        pk=1, defaults={"logo_url": "https://alpha.example/logo.png",
                        "primary_colour": "#003366", "address": "1 Links Road\nLahinch"},
    )  # fmt: skip
    aoife = customer(
        first_name="Aoife<b>", membership_tier="FIVE_DAY", renewal_due_on=dt.date(2027, 1, 31)
    )
    preview = template_preview(template_id="renewal_reminder", channel="EMAIL", customer=aoife)
    html = preview["html"]
    assert preview["subject"] == "Your membership renewal, Aoife<b>"
    assert "Aoife&lt;b&gt;" in html and "Aoife<b>" not in html  # values are escaped
    # The tier and the date as a person reads them, not FIVE_DAY and 2027-01-31.
    assert "Five day membership at Alpha Golf Club is due for renewal on 31 January 2027" in html
    assert "https://alpha.example/logo.png" in html and "#003366" in html
    assert "1 Links Road<br />Lahinch" in html and 'href="#unsubscribe"' in html
    assert "@media only screen" in html and 'style="' in html  # responsive, styles inline
    assert "{{" not in html and "googleapis" not in html  # every variable filled, no web fonts
    assert "Renew my membership: https://www.example.com/renew" in preview["text"]


def test_saving_refuses_an_unknown_variable_naming_the_block(alpha):
    with pytest.raises(ValidationError) as refused:
        email_template_create(
            key="club_night", name="Club night", subject="Hi {{ nickname }}",
            blocks=[{"type": "text", "text": "{{ favouriteHole }}"}, {"type": "footer"}],
        )  # fmt: skip
    errors = refused.value.message_dict
    assert "{{ nickname }}" in errors["subject"][0]
    assert "{{ favouriteHole }}" in errors["blocks[0].text"][0]
    assert not EmailTemplate.objects.filter(key="club_night").exists()

    template = email_template_create(
        key="club_night", name="Club night", subject="Hi {{ firstName }}", blocks=BLOCKS,
        actor_label="tests",
    )  # fmt: skip
    assert "<mj-button" in template.mjml and template.updated_by == "tests"
    with pytest.raises(ValidationError) as refused:
        email_template_update(template=template, blocks=[*BLOCKS[:3], {"type": "text"}])
    assert refused.value.message_dict["blocks[3].text"]
    template.refresh_from_db()
    assert template.blocks[-1] == {"type": "footer"}


def test_the_fallback_sends_a_club_template_and_refuses_an_unknown_variable_before_sending(
    alpha,
):
    no_quiet_hours()
    aoife = customer(first_name="Aoife")
    email_template_create(key="club_night", name="Club night", subject="x", blocks=BLOCKS)
    campaign = make_campaign(
        [segment_of("S", [aoife])],
        templates={"EMAIL": "club_night"},
        content={"subject": "Tonight, {{ firstName }}"},
    )
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        run = send_now(campaign)
        run_deliver(run_id=run.id)
    assert Send.objects.get(run=run).status == "ACCEPTED"
    (message,) = mail.outbox
    assert message.subject == "Tonight, Aoife"
    html = message.alternatives[0][0]
    assert "Hello Aoife" in html and "Tee times &amp; &lt;news&gt;." in html
    assert message.extra_headers["List-Unsubscribe"][1:-1] in html  # the send's own link
    assert "Hello Aoife" in message.body

    # A template changed behind the editor's back, and a subject naming no field: both are
    # refused before anything sends, each naming where it came from.
    EmailTemplate.objects.filter(key="club_night").update(
        blocks=[{"type": "text", "text": "{{ shoeSize }}"}, {"type": "footer"}]
    )
    second = make_campaign(
        [segment_of("S2", [aoife])],
        name="Second",
        templates={"EMAIL": "club_night"},
        content={"subject": "Hi {{ nickname }}"},
    )
    errors = campaign_template_problems(second)
    assert "blocks[0].text" in errors["templates.EMAIL"][0]
    assert "{{ shoeSize }}" in errors["templates.EMAIL"][0]
    assert "{{ nickname }}" in errors["content.subject"][0]
    with pytest.raises(ValidationError) as refused:
        send_now(second)
    assert set(refused.value.message_dict) >= {"templates.EMAIL", "content.subject"}


# --- REST ----------------------------------------------------------------------------------------


def test_api_lists_the_clubs_own_templates_by_channel(alpha, reader):
    response = reader.get(f"{BASE}?channel=email")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["meta"]["source"] == "club" and body["meta"]["listed"] is True
    assert {"name": "firstName", "label": "First name", "sample": "Aoife"} in (
        body["meta"]["variables"]
    )
    by_id = {t["id"]: t for t in body["data"]}
    invite = by_id["competition_invite"]
    assert invite["name"] == "Competition invite" and invite["channel"] == "email"
    assert invite["subject"] == "Entries open: Winter Stableford"
    assert invite["variables"] == ["firstName", "handicap"]

    sms = reader.get(f"{BASE}?channel=SMS").json()
    assert sms["data"] == [] and "only email" in sms["meta"]["notice"]


def test_api_preview_for_a_customer_and_bad_input(alpha, reader):
    aoife = customer(first_name="Aoife")
    url = f"{BASE}/newsletter/preview"
    response = post(reader, url, {"customerId": str(aoife.id)})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["subject"] == "News from Alpha Golf Club"
    assert "Hello Aoife," in data["html"] and data["customerId"] == str(aoife.id)
    sample = post(reader, url, {"content": {"subject": "For {{ firstName }}"}}).json()["data"]
    assert sample["subject"] == "For Aoife" and sample["customerId"] is None

    assert error_of(post(reader, f"{BASE}/no_such/preview"))["code"] == "not_found"
    cases = [
        ({"channel": "fax"}, "channel"),
        ({"customerId": "6a0f7c1e-0000-4000-8000-000000000000"}, "customerId"),
        ({"customerId": "not-a-uuid"}, "customerId"),
        ({"content": {"subject": "Hi {{ nickname }}"}}, "content.subject"),
        ({"subjct": "x"}, "subjct"),
    ]
    for payload, field in cases:
        response = post(reader, url, payload)
        assert response.status_code == 400, (payload, response.content)
        assert field in error_of(response)["details"], (payload, response.content)
    listing = reader.get(f"{BASE}?channel=fax")
    assert listing.status_code == 400 and "channel" in error_of(listing)["details"]


def test_api_another_clubs_templates_and_customers_are_not_reachable(clubs, api, make_key):
    with schema_context(clubs.bravo.schema_name), override_settings(**FALLBACK):
        email_template_create(key="bravo_secret", name="Bravo Secret", subject="s", blocks=BLOCKS)
        brid = customer(first_name="Bríd")
    connection.set_schema_to_public()
    alpha_reader = api(make_key(clubs.alpha, "crm:read"))
    with override_settings(**FALLBACK):
        listed = alpha_reader.get(f"{BASE}?channel=email")
        assert "bravo_secret" not in listed.content.decode()
        assert post(alpha_reader, f"{BASE}/bravo_secret/preview").status_code == 404
        response = post(alpha_reader, f"{BASE}/newsletter/preview", {"customerId": str(brid.id)})
        assert response.status_code == 400 and "Bríd" not in response.content.decode()
        for url in ("/t/bravo-golf/api/v1/templates", "/t/bravo-golf/api/v1/templates/x/preview"):
            assert alpha_reader.get(url).status_code in (401, 403, 404)
            assert post(alpha_reader, url).status_code in (401, 403, 404)


# --- the Messaging Service's templates -----------------------------------------------------------


def test_messaging_templates_are_listed_and_previewed_through_the_service(
    clubs, alpha, peer, reader
):
    body = reader.get(f"{BASE}?channel=email").json()
    assert body["meta"] == {**body["meta"], "source": "messaging", "listed": True}
    assert [t["id"] for t in body["data"]] == ["tournament_invite", "welcome"]
    assert body["data"][0]["variables"] == ["firstName", "competitionName"]
    assert peer.state.template_calls[0]["list"] == {
        "tenantId": str(clubs.alpha.id), "channel": "email"
    }  # fmt: skip
    sms = reader.get(f"{BASE}?channel=sms").json()["data"]
    assert [t["id"] for t in sms] == ["reminder_sms"]

    aoife = customer(first_name="Aoife")
    response = post(reader, f"{BASE}/welcome/preview", {"customerId": str(aoife.id)})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["html"] == "<p>Welcome Aoife</p>"
    call = peer.state.template_calls[-1]
    assert call["tenantId"] == str(clubs.alpha.id) and call["variables"]["firstName"] == "Aoife"

    # The service's 422 for a variable the CRM does not hold, and its 404 for an unknown id.
    refused = post(reader, f"{BASE}/tournament_invite/preview", {"customerId": str(aoife.id)})
    assert refused.status_code == 400
    assert "competitionName" in error_of(refused)["details"]["variables"][0]
    assert post(reader, f"{BASE}/nope/preview").status_code == 404

    # Before sending: a template needing a variable nobody fills is refused by name.
    campaign = make_campaign(
        [segment_of("S", [aoife])], templates={"EMAIL": "tournament_invite"}, content={}
    )
    assert "competitionName" in campaign_template_problems(campaign)["templates.EMAIL"][0]
    campaign.fallbacks = {"competitionName": "the next competition"}
    assert campaign_template_problems(campaign) == {}
    campaign.templates = {"EMAIL": "tournament_invitation"}
    unknown = campaign_template_problems(campaign)["templates.EMAIL"][0]
    assert "no email template 'tournament_invitation'" in unknown


def test_a_service_without_a_template_api_falls_back_to_a_typed_id(alpha, peer, reader):
    peer.state.templates_api = False
    listing = templates_list(channel="email")
    assert listing.listed is False and "type the template id" in listing.notice
    body = reader.get(f"{BASE}?channel=email").json()
    assert body["data"] == [] and body["meta"]["listed"] is False
    response = post(reader, f"{BASE}/welcome/preview")
    assert response.status_code == 404


def test_a_service_that_is_down_is_a_502_saying_so(alpha, reader):
    with override_settings(MESSAGING_URL="http://127.0.0.1:9", CAMPAIGN_TRANSPORT=""):
        response = post(reader, f"{BASE}/welcome/preview")
        listing = reader.get(f"{BASE}?channel=email").json()
    assert response.status_code == 502
    assert "did not answer" in error_of(response)["message"]
    assert listing["meta"]["listed"] is False and "did not answer" in listing["meta"]["notice"]


# --- GraphQL -------------------------------------------------------------------------------------


def _graphql(client, query: str, variables: dict | None = None) -> dict:
    response = client.post(
        "/t/alpha-golf/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
    )
    return response.json()


def test_graphql_lists_and_previews_templates(alpha, reader):
    aoife = customer(first_name="Aoife")
    body = _graphql(
        reader,
        'query($c: UUID) { templates(channel: "email") { source listed items { id name '
        "subject variables } variables { name label } } templatePreview(templateId: "
        '"competition_invite", customerId: $c) { subject html customerId } }',
        {"c": str(aoife.id)},
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["templates"]["source"] == "club"
    assert "competition_invite" in [t["id"] for t in data["templates"]["items"]]
    assert data["templatePreview"]["subject"] == "Entries open: Winter Stableford"
    assert "Dear Aoife," in data["templatePreview"]["html"]

    bad = _graphql(reader, '{ templates(channel: "fax") { source } }')
    assert bad["errors"][0]["extensions"]["field"] == "channel"
    unknown = _graphql(reader, '{ templatePreview(templateId: "nope") { subject } }')
    assert unknown["errors"][0]["extensions"]["field"] == "templateId"
    variable = _graphql(
        reader,
        '{ templatePreview(templateId: "newsletter", subject: "{{ nickname }}") { subject } }',
    )
    assert variable["errors"][0]["extensions"]["field"] == "content.subject"


# --- the admin: block editor, live preview, branding, the campaign form's picker ----------------


@pytest.fixture
def login(clubs, api, make_staff):
    from tests.conftest import STAFF_PASSWORD

    def _login(role: str):
        client = api()
        response = client.post(
            "/t/alpha-golf/admin/login/",
            {"username": make_staff(clubs.alpha, role), "password": STAFF_PASSWORD,
             "next": "/t/alpha-golf/admin/"},
        )  # fmt: skip
        assert response.status_code == 302, response.content
        return client

    return _login


ADMIN = "/t/alpha-golf/admin/campaigns/emailtemplate/"


def _editor_form(**extra) -> dict:
    return {
        "name": "Club night", "key": "club_night", "subject": "See you Friday, {{ firstName }}",
        "preheader": "", "start_from": "", "blocks": json.dumps(BLOCKS), **extra,
    }  # fmt: skip


def test_marketing_builds_a_template_in_the_block_editor(clubs, login):
    client = login("MARKETING")
    with override_settings(**FALLBACK):
        page = client.get(f"{ADMIN}add/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="email-editor-config"' in html and "email-editor.js" in html
        assert "Insert a customer field" not in html  # the script builds the pickers
        config = json.loads(html.split('id="email-editor-config" type="application/json">')[1]
                            .split("</script>")[0])  # fmt: skip
        assert {v["label"] for v in config["variables"]} >= {"First name", "Membership tier"}
        assert set(config["starters"]) >= {"newsletter", "competition_invite", "renewal_reminder"}

        # The live preview: the server's rendering of the form as it stands.
        with schema_context(clubs.alpha.schema_name):
            customer(first_name="Aoife", email="aoife.preview@ex.ie")
        connection.set_schema_to_public()
        answer = client.post(
            f"{ADMIN}preview/",
            {"blocks": json.dumps(BLOCKS), "subject": "Hi {{ firstName }}",
             "customer": "aoife.preview@ex.ie"},
        ).json()  # fmt: skip
        assert answer["errors"] == {} and answer["subject"] == "Hi Aoife"
        assert "Hello Aoife" in answer["html"] and answer["shownFor"] == "Aoife Byrne"
        typo = [BLOCKS[0], {"type": "text", "text": "Dear {{ nickname }}"}, BLOCKS[3]]
        answer = client.post(f"{ADMIN}preview/", {"blocks": json.dumps(typo)}).json()
        assert "{{ nickname }}" in answer["errors"]["blocks[1].text"][0]
        assert "Dear [nickname?]" in answer["html"]  # still shown, where it stands

        # Saving refuses the unknown variable, naming the block; then saves the good one.
        refused = client.post(f"{ADMIN}add/", _editor_form(blocks=json.dumps(typo)))
        assert refused.status_code == 200
        assert "Block 2 (Text), text: Unknown variable {{ nickname }}" in refused.content.decode()
        # No id typed: one is made from the name.
        saved = client.post(f"{ADMIN}add/", _editor_form(key=""))
        assert saved.status_code == 302, saved.content.decode()[:2000]
    with schema_context(clubs.alpha.schema_name):
        template = EmailTemplate.objects.get(key="club_night")
        assert template.subject == "See you Friday, {{ firstName }}"
        assert template.blocks[1]["heading"] == "Hello {{ firstName }}" and template.mjml
        assert template.updated_by.startswith("marketing@")


def test_the_campaign_form_picks_templates_from_a_list(clubs, login, peer):
    client = login("MARKETING")
    page = client.get("/t/alpha-golf/admin/campaigns/campaign/add/").content.decode()
    assert "Competition invite — Entries open: {{competitionName}}" in page
    assert "Welcome — Welcome, {{firstName}}" in page and "Tee-time reminder" in page
    peer.state.templates_api = False
    page = client.get("/t/alpha-golf/admin/campaigns/campaign/add/").content.decode()
    assert "Email template id" in page and "type the template id" in page
