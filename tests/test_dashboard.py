"""The club's home dashboard in figures: REST and GraphQL give the same numbers from the same
selectors (crm/dashboard.py), each club sees only its own, a feed that never sent anything
says so instead of showing 0, and every customer figure's list has exactly that many people."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tenants.utils import schema_context

from profiles.scoring_services import scores_recompute
from tests.conftest import STAFF_PASSWORD, error_of
from tests.events import envelope, member, player

DASHBOARD = "/t/alpha-golf/api/v1/dashboard"
GRAPHQL = "/t/alpha-golf/graphql"
QUERY = "{ dashboard { club { name currency timezone } generatedAt members atRisk golf marketing dataHealth } }"


def _club(ingest) -> None:
    now = timezone.now()
    today = now.date()
    events = [
        member(1, joinedOn=str(today.replace(day=1)), status="ACTIVE",
               renewalDueOn=str(today + dt.timedelta(days=10))),
        member(2, joinedOn="2015-04-01", status="ACTIVE", renewalDueOn="2027-12-01",
               firstName="Brian", lastName="Ryan"),
        member(3, joinedOn="2012-04-01", status="ACTIVE", firstName="Cathal"),
        envelope("scl.member.status.changed",
                 {"memberId": 3, "fromStatus": "ACTIVE", "toStatus": "LAPSED"},
                 identity={"sclMemberId": 3}, at=now - dt.timedelta(days=1)),
        player("p2", sclMemberId=2),
    ]  # fmt: skip
    for n in range(6):
        events.append(
            envelope(
                "teetime.booking.created",
                {"bookingId": f"b{n}", "playerId": "p2", "holes": 18, "channel": "ONLINE",
                 "teeTime": (now - dt.timedelta(days=n + 1)).isoformat()},
                identity={"teetimePlayerId": "p2"}, at=now - dt.timedelta(days=n + 2),
            )
        )  # fmt: skip
        events.append(
            envelope(
                "teetime.booking.completed", {"bookingId": f"b{n}", "playerId": "p2"},
                identity={"teetimePlayerId": "p2"}, at=now - dt.timedelta(days=n + 1),
            )
        )  # fmt: skip
    ingest(events)


def test_rest_and_graphql_agree_and_lists_match_the_numbers(
    clubs, ingest, make_key, api, make_staff
):
    _club(ingest)
    with schema_context(clubs.alpha.schema_name):
        scores_recompute()
    key = make_key(clubs.alpha, "crm:read")
    rest = api(key).get(DASHBOARD)
    assert rest.status_code == 200, rest.content
    data = rest.json()["data"]
    figures = data["members"]["figures"]
    assert figures == {"missing": None, "activeMembers": 2, "newThisMonth": 1,
                       "renewalsDue30d": 1, "lapsedThisSeason": 1}  # fmt: skip
    golf = data["golf"]["figures"]
    assert golf["missing"] is None
    assert golf["roundsPlayed"]["last7Days"] == 6 and golf["bookings"]["last7Days"] == 5
    assert golf["roundsPlayed"]["last30DaysYearBefore"] == 0
    assert sum(part["bookings"] for part in golf["dayParts"]) == 6
    assert data["atRisk"]["figures"]["missing"] is None
    assert data["atRisk"]["figures"]["scoredBy"] == "Rule-based score"
    assert len(data["atRisk"]["figures"]["trend"]) == 12
    health = data["dataHealth"]
    assert health["events"]["pendingEvents"] == 0 and health["deadLetters"] == {"waiting": 0}
    sources = {row["source"]: row for row in health["events"]["sources"]}
    assert sources["scl"]["lastReceivedAt"] and sources["scl"]["missing"] is None
    assert sources["messaging"] == {"source": "messaging", "label": "Messaging",
                                    "lastReceivedAt": None, "missing": "No Messaging events yet"}  # fmt: skip
    assert data["marketing"]["campaigns"]["missing"] == "No campaign has been sent yet"

    gql = api(key).post(GRAPHQL, {"query": QUERY}, content_type="application/json")
    body = gql.json()
    assert "errors" not in body, body
    dash = body["data"]["dashboard"]
    assert dash["club"] == data["club"]
    for gql_name, rest_name in (("members", "members"), ("atRisk", "atRisk"), ("golf", "golf"),
                                ("marketing", "marketing"), ("dataHealth", "dataHealth")):  # fmt: skip
        assert dash[gql_name] == data[rest_name], gql_name

    # Each customer figure's list, in the admin, holds as many customers as the tile says.
    client = api()
    client.post("/t/alpha-golf/admin/login/",
                {"username": make_staff(clubs.alpha, "STAFF"), "password": STAFF_PASSWORD})  # fmt: skip
    for name in ("activeMembers", "newThisMonth", "renewalsDue30d", "lapsedThisSeason",
                 "highOrCriticalRisk", "payingNotPlaying"):  # fmt: skip
        expected = {**figures, **data["atRisk"]["figures"]}[name]
        page = client.get(f"/t/alpha-golf/admin/profiles/customer/?figure={name}")
        assert page.status_code == 200, name
        assert page.context["cl"].result_count == expected, name


def test_missing_feeds_say_so_and_each_club_sees_its_own(clubs, ingest, make_key, api):
    _club(ingest)
    bravo = api(make_key(clubs.bravo, "crm:read")).get("/t/bravo-golf/api/v1/dashboard")
    data = bravo.json()["data"]
    assert data["club"] == {"name": "Bravo Golf Club", "timezone": "Europe/London",
                            "currency": "GBP"}  # fmt: skip
    assert data["members"]["figures"] == {"missing": "No SCL membership events yet"}
    assert data["golf"]["figures"] == {"missing": "No TeeTime events yet"}
    assert data["atRisk"]["figures"]["missing"].startswith("Not scored yet")
    # Alpha's key is nobody at Bravo, and Bravo's key nobody at Alpha.
    assert (
        api(make_key(clubs.alpha, "crm:read")).get("/t/bravo-golf/api/v1/dashboard").status_code
        == 401
    )
    other = api(make_key(clubs.bravo, "crm:read")).post(
        GRAPHQL, {"query": QUERY}, content_type="application/json"
    )
    assert other.status_code == 401


def test_the_dashboard_needs_the_read_scope(clubs, make_key, api):
    response = api(make_key(clubs.alpha, "events:write")).get(DASHBOARD)
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    gql = api(make_key(clubs.alpha, "events:write")).post(
        GRAPHQL, {"query": QUERY}, content_type="application/json"
    )
    assert gql.json()["errors"][0]["extensions"]["code"] == "permission_denied"
    assert api().get(DASHBOARD).status_code == 401
    assert api(make_key(clubs.alpha, "crm:read")).post(DASHBOARD).status_code == 405
