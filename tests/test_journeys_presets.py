"""The ready-made golf journeys: each is a definition `definition_parse` accepts and the
published JSON Schema describes, with the builder's labels and positions; the schema itself;
and copying each one through the API into a DRAFT the club can publish."""

from __future__ import annotations

import json
import re
import uuid

import jsonschema
import pytest
from django_tenants.utils import schema_context

from journeys.definition import (
    DefinitionError,
    definition_parse,
    empty_definition,
)
from journeys.presets import TEMPLATE_IDS, TEMPLATES, journey_templates, template_definition
from journeys.schema import journey_json_schema
from segments.models import Segment
from segments.presets import TEMPLATES as SEGMENT_TEMPLATES
from tests.conftest import error_of

URL = "/t/alpha-golf/api/v1"
KEYS = [
    "welcome_new_member",
    "win_back_lapsing_golfer",
    "renewal_reminders",
    "birthday",
    "thank_you_after_round",
    "failed_payment_recovery",
    "new_competition",
    "after_round_survey",
    "ask_booker_for_guests",
    "visitor_to_member",
]


def _validator() -> jsonschema.Draft202012Validator:
    schema = journey_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _filled(template: dict) -> tuple[dict, set]:
    """The template's definition with a made-up segment id in each slot."""
    ids = {slot["segmentTemplate"]: uuid.uuid4() for slot in template["segments"]}
    return template_definition(template=template, segment_ids=ids), set(ids.values())


def test_every_template_is_a_valid_definition_the_schema_describes():
    assert [t["key"] for t in TEMPLATES] == KEYS
    validator = _validator()
    for template in TEMPLATES:
        definition, segment_ids = _filled(template)
        parsed = definition_parse(definition, known_segment_ids=segment_ids)
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(definition)
        ]
        assert errors == [], template["key"]
        assert template["name"] and len(template["description"]) > 40
        for key, step in definition["steps"].items():
            assert step["label"], (template["key"], key)
            assert set(step["position"]) == {"x", "y"}, (template["key"], key)
        # Positions do not overlap: the builder shows each step on its own.
        positions = [(s["position"]["x"], s["position"]["y"]) for s in definition["steps"].values()]
        assert len(set(positions)) == len(positions), template["key"]
        assert parsed.start in parsed.steps


def test_template_ids_look_like_messaging_ids():
    assert len(TEMPLATE_IDS) == len(set(TEMPLATE_IDS)) >= 15
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{2,62}", t) for t in TEMPLATE_IDS)


def test_what_each_template_does():
    by_key = {t["key"]: t["definition"] for t in TEMPLATES}

    welcome = by_key["welcome_new_member"]
    assert welcome["trigger"]["eventType"] == "scl.member.created"
    assert welcome["trigger"]["firstTime"] is True
    assert welcome["goal"]["eventType"] == "teetime.booking.created"

    # Win back: entering the club's "no booking in 60 days" segment.
    win_back = next(t for t in TEMPLATES if t["key"] == "win_back_lapsing_golfer")
    assert win_back["definition"]["trigger"] == {
        "type": "segment", "on": "enter", "segmentId": None,
    }  # fmt: skip
    lapsed = next(t for t in SEGMENT_TEMPLATES if t["key"] == "lapsed_golfers")
    assert win_back["segments"][0]["segmentTemplate"] == "lapsed_golfers"
    assert {"field": "bookingCount", "operator": "eq", "value": 0,
            "window": {"lastDays": 60}} in lapsed["rules"]["rules"]  # fmt: skip
    split = win_back["definition"]["steps"]["offer_split"]
    assert sum(b["percent"] for b in split["branches"]) == 100

    renewal = by_key["renewal_reminders"]
    assert renewal["trigger"] == {
        "type": "date", "field": "renewalDueOn", "offsetDays": -90, "time": "09:00",
    }  # fmt: skip
    until = [s["untilDate"]["offsetDays"] for s in renewal["steps"].values() if "untilDate" in s]
    assert until == [-30, -7]
    rule_fields = json.dumps([s.get("rule") for s in renewal["steps"].values()])
    assert "engagementBand" in rule_fields and "paymentFailedCount" in rule_fields
    assert renewal["reentry"]["policy"] in ("ALWAYS", "AFTER_DAYS")

    birthday = by_key["birthday"]
    assert birthday["trigger"]["field"] == "dateOfBirth"
    assert birthday["reentry"]["policy"] in ("ALWAYS", "AFTER_DAYS")
    once = {**birthday, "reentry": {"policy": "ONCE"}}
    with pytest.raises(DefinitionError) as refused:
        definition_parse(once)
    assert "reentry.policy" in refused.value.errors

    thanks = by_key["thank_you_after_round"]
    assert thanks["trigger"]["eventType"] == "teetime.booking.completed"
    assert any("feedback" in s.get("template", "") for s in thanks["steps"].values())

    recovery = by_key["failed_payment_recovery"]
    assert recovery["trigger"]["eventType"] == "scl.payment.failed"
    assert recovery["goal"]["eventType"] == "scl.payment.received"

    competition = by_key["new_competition"]
    assert competition["trigger"]["eventType"] == "teetime.competition.published"
    assert competition["entryRule"] is not None  # a broadcast event enrols by the entry rule
    waits = [s for s in competition["steps"].values() if s["type"] == "waitForEvent"]
    assert waits and all(
        s["eventType"] == "teetime.competition.entry.created"
        and s["matchTrigger"] == ["competitionId"]
        for s in waits
    )
    assert competition["goal"]["matchTrigger"] == ["competitionId"]


def test_the_after_round_emails_built_by_one_helper_are_the_templates_they_were():
    """The survey and the ask-the-booker templates share `_after_round_email`; these are their
    definitions as written out before it, so the fold changed nothing a club copies."""
    gone = {"combinator": "AND", "rules": [
        {"field": "membershipStatus", "operator": "in", "value": ["RESIGNED", "DECEASED"]},
    ]}  # fmt: skip

    def expected(
        days: int,
        wait: str,
        wait_label: str,
        time: str,
        send: str,
        send_label: str,
        template: str,
        subject: str,
    ) -> dict:
        return {
            "trigger": {"type": "event", "eventType": "teetime.booking.completed",
                        "filters": {}, "firstTime": False},
            "entryRule": None, "exitRule": gone, "goal": None,
            "reentry": {"policy": "AFTER_DAYS", "days": days}, "maxEnrolments": None,
            "start": wait,
            "steps": {
                wait: {"type": "wait", "label": wait_label, "position": {"x": 320, "y": 40},
                       "until": {"time": time}, "next": send},
                send: {"type": "send", "label": send_label, "position": {"x": 320, "y": 180},
                       "channel": "EMAIL", "template": template, "variables": {},
                       "content": {"subject": subject}, "next": None},
            },
        }  # fmt: skip

    by_key = {t["key"]: t for t in TEMPLATES}
    survey, ask = by_key["after_round_survey"], by_key["ask_booker_for_guests"]
    assert survey["segments"] == ask["segments"] == []
    assert json.dumps(survey["definition"]) == json.dumps(expected(
        7, "next_morning", "Next morning, 09:30", "09:30",
        "survey", "Email: how was your round?", "round_nps_survey", "How was your round?",
    ))  # fmt: skip
    assert json.dumps(ask["definition"]) == json.dumps(expected(
        14, "evening", "That evening, 19:00", "19:00",
        "ask", "Email: who did you play with?", "round_name_your_guests", "Who did you play with?",
    ))  # fmt: skip


def test_every_segment_rule_in_the_templates_names_catalogue_fields():
    from segments.fields import FIELDS

    def fields_of(rule):
        if rule is None:
            return set()
        if "rules" in rule:
            return set().union(*(fields_of(r) for r in rule["rules"]))
        return {rule["field"]}

    named = set()
    for template in TEMPLATES:
        definition = template["definition"]
        named |= fields_of(definition["entryRule"]) | fields_of(definition["exitRule"])
        for step in definition["steps"].values():
            named |= fields_of(step.get("rule"))
    assert named and named <= set(FIELDS)


def test_the_schema_accepts_the_empty_definition_and_refuses_bad_shapes():
    validator = _validator()
    validator.validate(empty_definition())
    base = empty_definition()
    bad = [
        {**base, "trigger": {"type": "sometimes"}},
        {**base, "steps": {"end": {"type": "teleport"}}},
        {**base, "steps": {"w": {"type": "wait", "next": None}}},  # no form of wait
        {**base, "steps": {"w": {"type": "wait", "duration": {"days": 1},
                                 "until": {"time": "09:00"}}}},  # two forms
        {**base, "steps": {"s": {"type": "send", "channel": "FAX", "template": "x"}}},
        {**base, "reentry": {"policy": "AFTER_DAYS"}},  # no days
        {**base, "entryRule": {"field": "nope", "operator": "eq", "value": 1}},
        {**base, "surprise": True},
    ]  # fmt: skip
    for definition in bad:
        assert not validator.is_valid(definition), definition
        with pytest.raises(DefinitionError):
            definition_parse(definition)


# --- through the API ------------------------------------------------------------------------


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_templates_endpoint_and_copying_every_template(clubs, writer):
    listed = writer.get(f"{URL}/journey-templates")
    assert listed.status_code == 200
    templates = listed.json()["data"]
    assert [t["key"] for t in templates] == KEYS
    win_back = templates[1]
    assert win_back["segments"][0]["segmentId"] is None
    assert win_back["definition"]["trigger"]["segmentId"] is None

    for key in KEYS:
        response = post(writer, f"{URL}/journey-templates/{key}/copy", {"name": f"Our {key}"})
        assert response.status_code == 201, (key, response.content)
        journey = response.json()["data"]
        assert journey["status"] == "DRAFT" and journey["templateKey"] == key
        published = post(writer, f"{URL}/journeys/{journey['id']}/publish")
        assert published.status_code == 200, (key, published.content)
        assert published.json()["data"]["status"] == "ACTIVE"
        assert published.json()["data"]["publishedVersion"] == 1

    with schema_context(clubs.alpha.schema_name):
        made = Segment.objects.get(template_key="lapsed_golfers")
        assert made.name == "Lapsed golfers (no booking in 60 days)"
        assert made.rules == next(
            t["rules"] for t in SEGMENT_TEMPLATES if t["key"] == "lapsed_golfers"
        )
        copied = writer.get(f"{URL}/journeys?status=ACTIVE").json()["data"]
        win_back_copy = next(j for j in copied if j["templateKey"] == "win_back_lapsing_golfer")
        assert win_back_copy["definition"]["trigger"]["segmentId"] == str(made.id)
        assert win_back_copy["trigger"] == {
            "type": "segment", "eventType": None, "segmentId": str(made.id),
        }  # fmt: skip

    # A second copy uses the segment the first one made, and the listing now shows it.
    again = post(writer, f"{URL}/journey-templates/win_back_lapsing_golfer/copy", {"name": "Again"})
    assert again.status_code == 201
    assert again.json()["data"]["definition"]["trigger"]["segmentId"] == str(made.id)
    with schema_context(clubs.alpha.schema_name):
        assert Segment.objects.filter(template_key="lapsed_golfers").count() == 1
        assert journey_templates()[1]["segments"][0]["segmentId"] == str(made.id)


def test_copy_errors(clubs, writer, api, make_key):
    missing = post(writer, f"{URL}/journey-templates/moon_landing/copy", {"name": "x"})
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    no_name = post(writer, f"{URL}/journey-templates/birthday/copy", {})
    assert no_name.status_code == 400 and "name" in error_of(no_name)["details"]
    assert post(writer, f"{URL}/journey-templates/birthday/copy", {"name": "B"}).status_code == 201
    taken = post(writer, f"{URL}/journey-templates/birthday/copy", {"name": "B"})
    assert taken.status_code == 400 and "name" in error_of(taken)["details"]
    reader = api(make_key(clubs.alpha, "crm:read"))
    assert reader.get(f"{URL}/journey-templates").status_code == 200
    assert post(reader, f"{URL}/journey-templates/birthday/copy", {"name": "C"}).status_code == 403


def test_a_club_that_changed_its_lapsed_segment_gets_the_template_one(clubs, writer):
    with schema_context(clubs.alpha.schema_name):
        Segment.objects.create(
            name="Lapsed golfers (no booking in 60 days)",
            template_key="lapsed_golfers",
            rules={"combinator": "AND", "rules": [
                {"field": "bookingCount", "operator": "eq", "value": 0,
                 "window": {"lastDays": 120}}]},
        )  # fmt: skip
    response = post(writer, f"{URL}/journey-templates/win_back_lapsing_golfer/copy", {"name": "W"})
    assert response.status_code == 201
    with schema_context(clubs.alpha.schema_name):
        made = Segment.objects.get(name="Lapsed golfers (no booking in 60 days) 2")
        assert response.json()["data"]["definition"]["trigger"]["segmentId"] == str(made.id)


def test_copied_templates_enrol_the_right_golfers_through_the_engine(clubs, writer, ingest):
    """Copy and publish the templates as a club would, then feed the events each one waits for
    through the real ingestion path and let the engine's triggers run."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from journeys.models import Enrolment
    from journeys.triggers import date_triggers_run, triggers_run
    from profiles.models import Customer
    from segments.services import segment_refresh
    from tests.events import envelope, member, player

    journeys = {}
    for key in KEYS:
        copied = post(writer, f"{URL}/journey-templates/{key}/copy", {"name": key}).json()["data"]
        assert post(writer, f"{URL}/journeys/{copied['id']}/publish").status_code == 200
        journeys[key] = copied["id"]

    now = timezone.now()

    def booking(player_id: str, days_ago: int, kind: str = "created") -> dict:
        return envelope(
            f"teetime.booking.{kind}",
            {"bookingId": str(uuid.uuid4()), "playerId": player_id},
            identity={"teetimePlayerId": player_id},
            at=now - dt.timedelta(days=days_ago),
        )

    def payment(member_id: int, purpose: str) -> dict:
        return envelope(
            "scl.payment.failed",
            {"paymentId": str(uuid.uuid4()), "memberId": member_id, "amount": "450.00",
             "currency": "EUR", "purpose": purpose, "failureReason": "card_declined"},
            identity={"sclMemberId": member_id},
        )  # fmt: skip

    ingest(
        [
            member(401, email="new.member@ex.ie"),
            member(402, email="suspended@ex.ie", status="SUSPENDED"),
            player("regular", email="regular@ex.ie", handicapIndex=12.4),
            player("no-handicap", email="nohcp@ex.ie", handicapIndex=None),
            player("lapsing", email="lapsing@ex.ie", handicapIndex=20.1),
            booking("regular", 10),
            booking("no-handicap", 12),
            booking("lapsing", 90),
            booking("regular", 0, kind="completed"),
            payment(401, "SUBSCRIPTION"),
            payment(402, "LOCKER"),
        ]
    )
    with schema_context(clubs.alpha.schema_name):
        lapsed = Segment.objects.get(template_key="lapsed_golfers")
        segment_refresh(segment_id=lapsed.id)
    ingest([envelope("teetime.competition.published",
                     {"competitionId": "winter-stableford", "name": "Winter Stableford"})])  # fmt: skip

    dublin = ZoneInfo("Europe/Dublin")
    today = timezone.localtime(now, dublin).date()
    with schema_context(clubs.alpha.schema_name):
        # The dates first: triggers_run() also runs today's date triggers when the clock is past
        # their 09:00, and each runs once a day, so the dates set after it found nobody then.
        Customer.objects.filter(scl_member_id=401).update(
            renewal_due_on=today + dt.timedelta(days=90),
            date_of_birth=today.replace(year=1980) if (today.month, today.day) != (2, 29)
            else dt.date(1980, 2, 29),
        )  # fmt: skip
        triggers_run()
        date_triggers_run(now=dt.datetime.combine(today, dt.time(9, 1), tzinfo=dublin))

        def who(key: str) -> set:
            return {
                e.customer.teetime_player_id or e.customer.scl_member_id
                for e in Enrolment.objects.filter(journey_id=journeys[key]).select_related(
                    "customer"
                )
            }

        assert who("welcome_new_member") == {401}  # the SUSPENDED member is not welcomed
        assert who("failed_payment_recovery") == {401}  # a locker payment is not chased
        assert who("thank_you_after_round") == {"regular"}
        assert who("win_back_lapsing_golfer") == {"lapsing"}
        # Eligible: a handicap and a booking in the last year.
        assert who("new_competition") == {"regular", "lapsing"}
        assert who("renewal_reminders") == {401}
        assert who("birthday") == {401}
        entry = Enrolment.objects.get(journey_id=journeys["new_competition"],
                                      customer__teetime_player_id="regular")  # fmt: skip
        assert entry.context["payload"]["competitionId"] == "winter-stableford"
