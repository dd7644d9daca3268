"""Readable results: per variant and channel with labels, not codes; conversions as bookings,
entries and payments with the money they brought in the club's currency; a CSV export of the
same rows, in the admin (and nothing of another club)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign, CampaignRun, Send, Variant
from campaigns.results import campaign_results, campaign_results_csv
from profiles.models import Activity
from tests.conftest import STAFF_PASSWORD
from tests.test_campaigns_sending import customer


def _activity(person, type_: str, at, **extra) -> Activity:
    return Activity.objects.create(
        customer=person, type=type_, category=extra.pop("category", "messaging"),
        title=type_, source="test", occurred_at=at, data=extra.pop("data", {}), **extra,
    )  # fmt: skip


@pytest.fixture
def campaign(clubs):
    with schema_context(clubs.alpha.schema_name):
        now = timezone.now() - dt.timedelta(days=1)
        campaign = Campaign.objects.create(
            name="Winter Stableford", channels=["EMAIL", "SMS"], status="COMPLETED"
        )
        Variant.objects.create(campaign=campaign, key="A", content={"subject": "Entries open"})
        Variant.objects.create(campaign=campaign, key="B", content={"subject": "=Last places"})
        run = CampaignRun.objects.create(campaign=campaign, key="once", status="DONE")
        people = [customer(first_name=f"P{n}") for n in range(4)]

        def send(person, variant, channel="EMAIL", status="ACCEPTED", reason=""):
            return Send.objects.create(
                run=run, campaign=campaign, customer=person, channel=channel, variant=variant,
                status=status, reason=reason, created_at=now, handed_at=now,
            )  # fmt: skip

        opened = send(people[0], "A")
        send(people[1], "A")
        clicked = send(people[2], "B")
        send(people[3], "B", status="SUPPRESSED", reason="NO_CONSENT")
        send(people[0], "A", channel="SMS")
        for s, kind in ((opened, "messaging.email.opened"), (clicked, "messaging.email.opened"),
                        (clicked, "messaging.email.clicked")):  # fmt: skip
            _activity(s.customer, kind, now + dt.timedelta(minutes=5), data={"sendId": str(s.id)})
        later = now + dt.timedelta(hours=2)
        _activity(people[0], "teetime.booking.created", later, category="golf",
                  amount_cents=4500, currency="EUR")  # fmt: skip
        _activity(people[2], "teetime.competition.entry.created", later, category="competition")
        _activity(people[2], "scl.payment.received", later, category="payment",
                  amount_cents=12000, currency="EUR")  # fmt: skip
        # Outside the window: not the campaign's doing.
        _activity(people[2], "scl.payment.received", now + dt.timedelta(days=30),
                  category="payment", amount_cents=99900, currency="EUR")  # fmt: skip
        return campaign


def test_results_per_variant_and_channel_with_money(clubs, campaign):
    with schema_context(clubs.alpha.schema_name):
        results = campaign_results(campaign=campaign)
    rows = {(r["variant"], r["channel"]): r for r in results["rows"]}
    assert set(rows) == {
        ("Variant A: Entries open", "Email"), ("Variant A: Entries open", "SMS"),
        ("Variant B: =Last places", "Email"),
    }  # fmt: skip
    a_email = rows[("Variant A: Entries open", "Email")]
    assert (a_email["sent"], a_email["opened"], a_email["openRate"]) == (2, 1, "50%")
    assert (a_email["bookings"], a_email["revenue"]) == (1, "€45.00")
    b_email = rows[("Variant B: =Last places", "Email")]
    assert (b_email["entries"], b_email["payments"], b_email["revenue"]) == (1, 1, "€120.00")
    assert b_email["notSent"] == 1
    total = results["total"]
    assert (total["sent"], total["bookings"], total["entries"], total["payments"]) == (4, 1, 1, 1)
    assert total["revenue"] == "€165.00"


def test_results_csv_in_the_admin(clubs, campaign, api, make_staff):
    with schema_context(clubs.alpha.schema_name):
        text = campaign_results_csv(campaign=campaign)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["Variant", "Channel", "Sent"] and "Money brought in" in table[0]
    assert table[-1][:2] == ["All", "All channels"] and table[-1][-1] == "€165.00"
    # A subject starting with "=" is text to a spreadsheet, not a formula.
    assert any(row[0] == "'Variant B: =Last places" or row[0].startswith("Variant B")
               for row in table)  # fmt: skip
    assert not any(row[0].startswith("=") for row in table)

    client = api()
    with schema_context(clubs.alpha.schema_name):
        assert client.login(username=make_staff(clubs.alpha, "STAFF"), password=STAFF_PASSWORD)
    url = f"/t/alpha-golf/admin/campaigns/campaign/{campaign.pk}/results.csv"
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "Winter-Stableford-results.csv" in response["Content-Disposition"]
    page = client.get(f"/t/alpha-golf/admin/campaigns/campaign/{campaign.pk}/change/")
    assert 'id="campaign-results"' in page.content.decode()
    assert "€165.00" in page.content.decode()
    # Another club's staff cannot reach it.
    other = api()
    with schema_context(clubs.bravo.schema_name):
        email = make_staff(clubs.bravo, "ADMIN")
        assert other.login(username=email, password=STAFF_PASSWORD)
    assert other.get(url.replace("alpha-golf", "bravo-golf")).status_code in (302, 404)


def test_results_in_rest_and_graphql(clubs, campaign, api, make_key):
    import json

    reader = api(make_key(clubs.alpha, "crm:read"))
    url = f"/t/alpha-golf/api/v1/campaigns/{campaign.pk}/results"
    data = reader.get(url).json()["data"]
    assert data["total"]["revenue"] == "€165.00" and data["currency"] == "EUR"
    as_csv = reader.get(url, {"export": "csv"})
    assert as_csv.status_code == 200 and as_csv.content.decode().startswith("Variant,Channel")
    bad = reader.get(url, {"export": "xml"})
    assert bad.status_code == 400 and "export" in bad.json()["error"]["details"]
    query = '{ campaign(id: "ID") { results } }'.replace("ID", str(campaign.pk))
    answer = reader.post(
        "/t/alpha-golf/graphql", data=json.dumps({"query": query}),
        content_type="application/json",
    ).json()  # fmt: skip
    assert answer["data"]["campaign"]["results"]["total"]["bookings"] == 1
    # Another club's key: not found, same body as for an unknown id.
    other = api(make_key(clubs.bravo, "crm:read"))
    assert other.get(url.replace("alpha-golf", "bravo-golf")).status_code == 404
