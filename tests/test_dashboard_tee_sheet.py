"""The home dashboard's tee sheet and players section (teeSheet): the next 7 days' sheet and the
gaps being filled, what the gap filler recovered with its holdout, capture rate and NPS after
the round. REST and GraphQL give the same figures; a club whose feeds never sent that data is
told so instead of shown 0; each club sees only its own; the list behind "guests not named
yet" holds that many customers; asking the dashboard for what it does not have is refused."""

from __future__ import annotations

import datetime as dt
import html
import re

from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.sending import campaign_settings
from campaigns.tee_sheet import tee_sheet_fill, tee_sheet_settings_update
from journeys.surveys import round_survey_answer
from profiles.models import Customer
from tests.conftest import STAFF_PASSWORD, error_of
from tests.events import envelope
from tests.test_tee_sheet import COURSE, golfer, next_weekday_morning, slot_event, stamp

DASHBOARD = "/t/alpha-golf/api/v1/dashboard"
GRAPHQL = "/t/alpha-golf/graphql"
QUERY = "{ dashboard { club { currency } teeSheet golf } }"


def _guest_booking(booking_id: str, booker: str, guests: list[str], *, at: dt.datetime) -> dict:
    return envelope(
        "teetime.booking.created",
        {"bookingId": booking_id, "playerId": booker, "course": COURSE,
         "teeTime": stamp(at + dt.timedelta(days=1)), "holes": 18,
         "partySize": 1 + len(guests), "guestPlayerIds": guests,
         "price": {"amount": "45.00", "currency": "EUR"}},
        identity={"teetimePlayerId": booker}, at=at,
    )  # fmt: skip


def _club(clubs, ingest) -> None:
    """Two golfers who play weekday mornings, a slot released and refilled by one of them, a
    booking with two guests (none named), and two survey answers."""
    now = timezone.now()
    slot = next_weekday_morning(now)
    mornings = [slot - dt.timedelta(days=7 * k) for k in (1, 2)]
    ingest([*golfer("anna", bookings=mornings), *golfer("gerry", bookings=mornings)])
    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        tee_sheet_settings_update(
            data={"enabled": True, "horizonHours": 24 * 4, "golfersPerPlace": 4,
                  "holdoutPercent": 0},
            actor_label="tests",
        )  # fmt: skip
    ingest([slot_event(slot, booked=2, at=now - dt.timedelta(minutes=2))])
    with schema_context(clubs.alpha.schema_name):
        assert tee_sheet_fill(now=now).waves == 1
    later = now + dt.timedelta(minutes=5)
    ingest(
        [
            envelope("teetime.booking.created",
                     {"bookingId": "b-back", "playerId": "anna", "course": COURSE,
                      "teeTime": stamp(slot), "holes": 18,
                      "price": {"amount": "45.00", "currency": "EUR"}},
                     identity={"teetimePlayerId": "anna"}, at=later),
            slot_event(slot, booked=3, at=later),
            _guest_booking("b-four", "gerry", ["p-g1", "p-g2"], at=now - dt.timedelta(days=1)),
        ]
    )  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        assert tee_sheet_fill(now=later + dt.timedelta(minutes=1)).converted == 1
        anna = Customer.objects.get(teetime_player_id="anna")
        gerry = Customer.objects.get(teetime_player_id="gerry")
        round_survey_answer(booking_id="b-four", customer=gerry, score=10)
        round_survey_answer(booking_id="b-back", customer=anna, score=3, comment="Slow greens")


def test_the_tee_sheet_section_in_rest_and_graphql(clubs, ingest, make_key, api, make_staff):
    _club(clubs, ingest)
    key = make_key(clubs.alpha, "crm:read")
    rest = api(key).get(DASHBOARD)
    assert rest.status_code == 200, rest.content
    data = rest.json()["data"]
    tee = data["teeSheet"]
    assert set(tee) == {"health", "filler", "captureRate", "nps"}

    health = tee["health"]
    assert health["missing"] is None
    assert (health["capacity"], health["booked"], health["freePlaces"]) == (4, 3, 1)
    assert health["utilisation"] == 75.0
    assert (health["openGaps"], health["openGapPlaces"]) == (1, 1)  # still one place free
    parts = {p["dayPart"]: p for p in health["utilisation7Days"]}
    assert list(parts) == ["weekday_morning", "weekday_afternoon", "weekday_evening", "weekend"]
    assert parts["weekday_morning"]["booked"] == 3 and parts["weekend"]["utilisation"] is None
    assert parts["weekday_morning"]["label"] == "Weekday mornings"

    filler = tee["filler"]
    assert filler["missing"] is None and filler["enabled"] is True
    assert (filler["offers"], filler["bookings"], filler["revenueRecoveredCents"]) == (2, 1, 4500)
    assert filler["revenueRecovered"] == "45.00 EUR" and filler["conversionRate"] == 50.0
    assert len(filler["weeks"]) == 8 and filler["weeks"][-1]["bookings"] == 1
    # No holdout share: the lift cannot be measured, and the tile says why.
    assert filler["liftPoints"] is None
    assert filler["liftNote"] == "No holdout: set a holdout share to measure the lift"

    capture = tee["captureRate"]
    assert capture["missing"] is None and len(capture["weeks"]) == 8
    # Bookings: anna's 2 + 1 recovered, gerry's 2 + the four-ball (3 players, guests unnamed).
    recent = [w for w in capture["weeks"] if w["players"]]
    assert sum(w["players"] for w in recent) == capture["players"]
    assert capture["players"] - capture["named"] == 2 == capture["unnamedGuests"]

    nps = tee["nps"]
    assert (nps["answers"], nps["promoters"], nps["detractors"], nps["nps"]) == (2, 1, 1, 0)
    assert len(nps["weeks"]) == 8 and nps["weeks"][-1]["answers"] == 2
    assert nps["dayParts"][0]["label"] == "Weekday mornings"
    assert sum(p["answers"] for p in nps["dayParts"]) == 2

    gql = api(key).post(GRAPHQL, {"query": QUERY}, content_type="application/json").json()
    assert "errors" not in gql, gql
    assert gql["data"]["dashboard"]["teeSheet"] == tee

    # The list behind "guests not named yet" holds that many customers.
    client = api()
    client.post("/t/alpha-golf/admin/login/",
                {"username": make_staff(clubs.alpha, "STAFF"), "password": STAFF_PASSWORD})  # fmt: skip
    page = client.get("/t/alpha-golf/admin/profiles/customer/?figure=unnamedGuests")
    assert page.status_code == 200
    assert page.context["cl"].result_count == capture["unnamedGuests"]
    # And the page shows the section, with the club's currency.
    home = client.get("/t/alpha-golf/admin/")
    body = home.content.decode()
    assert 'data-tile="teeSheet"' in body and "€45.00" in body
    assert 'data-figure="teeSheet.nps.answers">2<' in body
    # Every link behind the section's numbers opens for club staff (STAFF).
    section = body[body.index('data-tile="teeSheet"') :]
    section = section[: section.index("</section>")]
    urls = set(re.findall(r'href="([^"]+)"', section))
    assert len(urls) >= 7, urls
    for url in sorted(urls):
        assert client.get(html.unescape(url)).status_code == 200, url


def test_each_club_sees_its_own_and_missing_data_says_so(clubs, ingest, make_key, api, make_staff):
    _club(clubs, ingest)
    bravo = api(make_key(clubs.bravo, "crm:read")).get("/t/bravo-golf/api/v1/dashboard")
    tee = bravo.json()["data"]["teeSheet"]
    assert tee == {
        "health": {"missing": "No TeeTime availability events yet"},
        "filler": {
            "missing": "No gap-filler offers in the last 8 weeks: the filler is off "
            "(turn it on in Tee-sheet filler settings)",
            "enabled": False,
        },
        "captureRate": {"missing": "No TeeTime bookings in the last 8 weeks"},
        "nps": {"missing": "No survey answers in the last 8 weeks"},
    }
    # The page says the same sentences, not zeros.
    client = api()
    client.post("/t/bravo-golf/admin/login/",
                {"username": make_staff(clubs.bravo, "STAFF"), "password": STAFF_PASSWORD})  # fmt: skip
    body = client.get("/t/bravo-golf/admin/").content.decode()
    section = body[body.index('data-tile="teeSheet"') :]
    section = section[: section.index("</section>")]
    for part in tee.values():
        assert html.escape(part["missing"]) in section, part["missing"]
    assert "data-figure" not in section
    # Alpha's key is nobody at Bravo, in REST or GraphQL.
    alpha_key = make_key(clubs.alpha, "crm:read")
    assert api(alpha_key).get("/t/bravo-golf/api/v1/dashboard").status_code == 401
    other = api(alpha_key).post(
        "/t/bravo-golf/graphql", {"query": QUERY}, content_type="application/json"
    )
    assert other.status_code == 401


def test_asking_the_section_for_what_it_does_not_have_is_refused(clubs, make_key, api):
    key = make_key(clubs.alpha, "crm:read")
    # The section is one JSON value: no arguments, no sub-selection.
    for query, word in (
        ("{ dashboard { teeSheet(weeks: 3) } }", "weeks"),
        ("{ dashboard { teeSheet { health } } }", "teeSheet"),
        ("{ dashboard { teeSheets } }", "teeSheets"),
    ):
        response = api(key).post(GRAPHQL, {"query": query}, content_type="application/json")
        assert response.status_code == 400, response.content
        error = error_of(response)
        assert error["code"] == "graphql_validation_failed" and word in error["message"], error
    # REST: reading only; a write is refused in the one error shape.
    response = api(key).post(DASHBOARD, {"teeSheet": {}}, content_type="application/json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_the_section_adds_a_handful_of_queries(clubs, ingest):
    _club(clubs, ingest)
    from django.db import connection

    from crm.dashboard import dashboard_build

    with schema_context(clubs.alpha.schema_name):
        with CaptureQueriesContext(connection) as counted:
            data = dashboard_build(fresh=True)
        tee_sheet = [
            q["sql"]
            for q in counted.captured_queries
            if any(t in q["sql"] for t in ("teeslot", "teesheet", "roundsurvey", "guest"))
        ]
    assert data["teeSheet"]["health"]["missing"] is None
    # health 2, filler 2, capture 2, nps 2: one aggregate each, whatever the club's size.
    assert len(tee_sheet) <= 8, tee_sheet


NAV_LINKS = {
    "Tee-sheet gaps": "/t/alpha-golf/admin/campaigns/teesheetgap/",
    "Tee sheet": "/t/alpha-golf/admin/profiles/teeslot/",
    "Survey answers": "/t/alpha-golf/admin/journeys/roundsurveyanswer/",
    "Tee-sheet gap filler": "/t/alpha-golf/admin/campaigns/teesheetsettings/",
    "After-round survey": "/t/alpha-golf/admin/journeys/feedbacksettings/",
}


def test_the_tee_sheet_pages_are_in_the_sidebar_of_those_who_run_them(clubs, api, make_staff):
    for role in ("STAFF", "MARKETING", "ADMIN"):
        client = api()
        client.post("/t/alpha-golf/admin/login/",
                    {"username": make_staff(clubs.alpha, role), "password": STAFF_PASSWORD})  # fmt: skip
        page = client.get("/t/alpha-golf/admin/").content.decode()
        sidebar = page[page.index('id="nav-sidebar-apps"') : page.index('id="main"')]
        for title, url in NAV_LINKS.items():
            shown = f"<span>{title}</span>" in sidebar
            assert shown is (role != "STAFF"), (role, title)
            if shown:
                assert f'href="{url}"' in sidebar, (role, title)
                assert client.get(url).status_code in (200, 302), (role, url)
