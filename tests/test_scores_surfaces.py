"""Where staff and integrators see the scores: REST and GraphQL customers (one query per page
whatever its size), the 360° page's scores panel (which score is in use and how good it is),
and the admin's churn models and scoring settings. Plus one end-to-end run through the real
ingestion path: a failed payment rescores its member within the minute."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from profiles.models import ChurnModel, ChurnModelStatus, Customer, CustomerScore, SourceRecord
from profiles.scoring_services import scores_recompute, scores_refresh_touched
from tests.conftest import STAFF_PASSWORD
from tests.events import envelope, member, player
from tests.test_scores_churn import Club

REST = "/t/alpha-golf/api/v1/customers"
GRAPHQL = "/t/alpha-golf/graphql"
ADMIN = "/t/alpha-golf/admin"


@pytest.fixture
def alpha(clubs) -> Iterator[None]:
    with schema_context(clubs.alpha.schema_name):
        yield


@pytest.fixture
def reader(clubs, api, make_key):
    client = api(make_key(clubs.alpha, "crm:read"))
    client.get("/t/alpha-golf/api/v1/tenant")  # settle the key's last-used stamp
    return client


@pytest.fixture
def login(clubs, api, make_staff):
    def _login(role: str):
        client = api()
        response = client.post(
            f"{ADMIN}/login/",
            {"username": make_staff(clubs.alpha, role), "password": STAFF_PASSWORD,
             "next": f"{ADMIN}/"},
        )  # fmt: skip
        assert response.status_code == 302
        return client

    return _login


def _club_of_30(clubs) -> list[Customer]:
    """30 customers in alpha, scored as of now; the last five never scored."""
    with schema_context(clubs.alpha.schema_name):
        club = Club(now=timezone.now())
        people = [club.steady(f"Player{n:02d}") for n in range(30)]
        club.save()
        scores_recompute(customer_ids=[p.id for p in people[:25]], now=club.now)
    return people


def test_rest_customers_carry_their_scores_in_one_query_per_page(clubs, reader):
    people = _club_of_30(clubs)
    body = reader.get(f"{REST}/{people[0].id}").json()["data"]
    assert body["engagementScore"] >= 60 and body["engagementBand"] in ("GOOD", "EXCELLENT")
    assert 0 <= body["churnRiskScore"] < 20
    assert isinstance(body["churnRiskReasons"], list)
    assert body["payingNotPlaying"] is False
    unscored = reader.get(f"{REST}/{people[-1].id}").json()["data"]
    assert (
        unscored["engagementScore"], unscored["engagementBand"], unscored["churnRiskScore"],
        unscored["churnRiskReasons"], unscored["payingNotPlaying"],
    ) == (None, None, None, [], False)  # fmt: skip

    counts = []
    for take in (1, 30):
        with CaptureQueriesContext(connection) as captured:
            data = reader.get(f"{REST}?take={take}").json()["data"]
        assert len(data) == take
        counts.append(len(captured))
    assert counts[0] == counts[1]
    scored = [item for item in data if item["engagementScore"] is not None]
    assert len(scored) == 25


def test_graphql_customers_carry_their_scores_without_n_plus_1(clubs, reader):
    _club_of_30(clubs)
    query = """{ customers(take: %d) { items {
        engagementScore engagementBand churnRiskScore churnRiskReasons payingNotPlaying
    } } }"""
    counts = {}
    for take in (1, 30):
        with CaptureQueriesContext(connection) as captured:
            response = reader.post(
                GRAPHQL, data=json.dumps({"query": query % take}), content_type="application/json"
            )
        body = response.json()
        assert "errors" not in body, body
        items = body["data"]["customers"]["items"]
        assert len(items) == take
        counts[take] = len(captured)
    assert counts[1] == counts[30], counts
    assert sum(item["engagementScore"] is not None for item in items) == 25
    assert all(isinstance(item["churnRiskReasons"], list) for item in items)


def test_a_failed_payment_rescores_its_member_within_the_minute(clubs, ingest, reader):
    ingest(
        [
            member(7, joinedOn="2015-04-01", renewalDueOn="2027-04-01", status="ACTIVE"),
            player("p7", sclMemberId=7),
            *[
                envelope(
                    "teetime.booking.created",
                    {"bookingId": f"b{n}", "playerId": "p7", "holes": 18, "channel": "ONLINE"},
                    identity={"teetimePlayerId": "p7"},
                    at=timezone.now() - dt.timedelta(days=7 * n + 3),
                )
                for n in range(20)
            ],
        ]
    )
    with schema_context(clubs.alpha.schema_name):
        customer_id = SourceRecord.objects.get(kind="scl", key="7").customer_id
        scores_refresh_touched()  # the club's first run: starts from here
        scores_recompute()  # the nightly run
        before = CustomerScore.objects.get(customer_id=customer_id)
        assert before.churn_method == "RULES" and before.churn_risk_reasons == []

    ingest(
        [
            envelope(
                "scl.payment.failed",
                {"paymentId": "pay-1", "memberId": 7, "amount": "1450.00", "currency": "EUR",
                 "purpose": "SUBSCRIPTION", "failureReason": "card_declined"},
                identity={"sclMemberId": 7}, at=timezone.now() - dt.timedelta(minutes=5),
            )
        ]
    )  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        assert scores_refresh_touched() == {"customers": 1}
    body = reader.get(f"{REST}/{customer_id}").json()["data"]
    assert body["churnRiskScore"] == 25
    assert body["churnRiskReasons"] == ["Subscription payment failed once; still unpaid"]


# --- the admin ---------------------------------------------------------------------------------


def test_the_360_page_shows_scores_reasons_and_which_score_is_in_use(clubs, login):
    with schema_context(clubs.alpha.schema_name):
        club = Club(now=timezone.now())
        slipping = club.stopped("Slipping")
        club.save()
        scores_recompute(now=club.now)
    client = login("STAFF")
    html = client.get(f"{ADMIN}/profiles/customer/{slipping.id}/change/").content.decode()
    assert 'id="scores"' in html
    assert "Scored by: Rule-based score" in html
    assert "No churn model has been trained yet." in html
    assert "Subscription payment failed twice; still unpaid" in html
    assert "; usually plays weekly" in html

    with schema_context(clubs.alpha.schema_name):
        ChurnModel.objects.create(
            version=3, status=ChurnModelStatus.READY, trained_at=club.now, cutoff=club.now,
            horizon_days=90, roc_auc=0.874, precision_top_decile=0.41, base_rate=0.05,
        )  # fmt: skip
        CustomerScore.objects.filter(customer=slipping).update(
            churn_method="MODEL", churn_model_version=3, churn_risk_score=88
        )
    html = client.get(f"{ADMIN}/profiles/customer/{slipping.id}/change/").content.decode()
    assert "Scored by: Churn model v3" in html
    assert "ROC AUC 0.87; of the 10% of members it ranked riskiest, 41% lapsed" in html
    assert "against 5% of all" in html

    models = client.get(f"{ADMIN}/profiles/churnmodel/").content.decode()
    assert "0.874" in models and "41% (base rate 5%)" in models


def test_an_unscored_customer_and_a_visitor(clubs, login):
    with schema_context(clubs.alpha.schema_name):
        club = Club(now=timezone.now())
        unscored = club.person("Unscored")
        visitor = club.person("Visitor", membership_status="")
        club.save()
        scores_recompute(customer_ids=[visitor.id], now=club.now)
    client = login("STAFF")
    html = client.get(f"{ADMIN}/profiles/customer/{unscored.id}/change/").content.decode()
    assert "Not scored yet" in html
    html = client.get(f"{ADMIN}/profiles/customer/{visitor.id}/change/").content.decode()
    assert "No churn risk: not a current member." in html


def test_scoring_settings_are_for_admins(clubs, login):
    staff = login("STAFF")
    assert staff.get(f"{ADMIN}/profiles/scoringconfig/add/").status_code == 403
    admin = login("ADMIN")
    page = admin.get(f"{ADMIN}/profiles/scoringconfig/add/").content.decode()
    assert "recency_zero_days" in page and "Every parameter" in page
    refused = admin.post(
        f"{ADMIN}/profiles/scoringconfig/add/", {"overrides": '{"recency_zero_days": 0}'}
    )
    assert refused.status_code == 200
    assert "recency_zero_days: At least 1." in refused.content.decode()
    saved = admin.post(
        f"{ADMIN}/profiles/scoringconfig/add/", {"overrides": '{"churn_horizon_days": 60}'}
    )
    assert saved.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        from profiles.scoring import scoring_params

        assert scoring_params().churn_horizon_days == 60


def test_score_customers_command(clubs):
    from io import StringIO

    from django.core.management import call_command

    with schema_context(clubs.bravo.schema_name):
        club = Club(now=timezone.now())
        club.steady("Steady")
        club.save()
    out = StringIO()
    call_command("score_customers", "bravo-golf", "--train", stdout=out)
    text = out.getvalue()
    assert "Churn model v1: INSUFFICIENT_HISTORY (not judged)" in text
    assert "Bravo Golf Club (bravo-golf): 1 customers scored" in text
    with schema_context(clubs.bravo.schema_name):
        assert CustomerScore.objects.count() == 1
