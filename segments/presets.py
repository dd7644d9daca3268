"""Ready-made segments a club can start from (`GET segments/templates`). Each is an ordinary
rule (segments.md) the club can copy and change.

"High engagement" and "At-risk members" read the scores of the scoring issue; until a club's
customers are scored, they match nobody, as segments.md's null rule says.
"""

from __future__ import annotations

from typing import Any


def _all(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"combinator": "AND", "rules": list(rules)}


_ACTIVE_MEMBER = {"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"}

TEMPLATES: list[dict[str, Any]] = [
    {
        "key": "lapsed_golfers",
        "name": "Lapsed golfers",
        "description": "Have booked before, but not in the last 60 days.",
        "rules": _all(
            {"field": "bookingCount", "operator": "gte", "value": 1},
            {"field": "bookingCount", "operator": "eq", "value": 0, "window": {"lastDays": 60}},
        ),
    },
    {
        "key": "active_golfers",
        "name": "Active golfers",
        "description": "Two or more bookings in the last 30 days.",
        "rules": _all(
            {"field": "bookingCount", "operator": "gte", "value": 2, "window": {"lastDays": 30}}
        ),
    },
    {
        "key": "at_risk_members",
        "name": "At-risk members",
        "description": "Active members with a churn risk of 60 or more.",
        "rules": _all(_ACTIVE_MEMBER, {"field": "churnRiskScore", "operator": "gte", "value": 60}),
    },
    {
        "key": "renewal_due_30_days",
        "name": "Renewal due in 30 days",
        "description": "Active members whose renewal falls in the next 30 days.",
        "rules": _all(
            _ACTIVE_MEMBER, {"field": "renewalDueOn", "operator": "withinNextDays", "value": 30}
        ),
    },
    {
        "key": "new_members",
        "name": "New members",
        "description": "Joined in the last 90 days.",
        "rules": _all(
            _ACTIVE_MEMBER, {"field": "memberSince", "operator": "withinLastDays", "value": 90}
        ),
    },
    {
        "key": "long_term_members",
        "name": "Long-term members",
        "description": "Members for 5 years or more.",
        "rules": _all(
            _ACTIVE_MEMBER,
            {"field": "memberSince", "operator": "moreThanDaysAgo", "value": 5 * 365},
        ),
    },
    {
        "key": "birthdays_this_month",
        "name": "Birthdays this month",
        "description": "Birthday in the current month (the rule names the month: copy it "
        "and change the value, or use a journey's birthday trigger).",
        "rules": _all({"field": "birthMonth", "operator": "eq", "value": 1}),
        "dynamicValue": "currentMonth",
    },
    {
        "key": "email_engaged",
        "name": "Email engaged",
        "description": "Opened an email in the last 14 days.",
        "rules": _all({"field": "lastEmailOpenAt", "operator": "withinLastDays", "value": 14}),
    },
    {
        "key": "high_engagement",
        "name": "High engagement",
        "description": "Engagement score of 80 or more (band Excellent).",
        "rules": _all({"field": "engagementScore", "operator": "gte", "value": 80}),
    },
    {
        "key": "upgrade_candidates",
        "name": "Upgrade candidates",
        "description": "Non-members or country/junior/intermediate tiers who play at least "
        "twice a month (6+ rounds in 90 days).",
        "rules": {
            "combinator": "AND",
            "rules": [
                {
                    "field": "roundsPlayed",
                    "operator": "gte",
                    "value": 6,
                    "window": {"lastDays": 90},
                },
                {
                    "combinator": "OR",
                    "rules": [
                        {"field": "membershipStatus", "operator": "isNull"},
                        {
                            "field": "membershipTier",
                            "operator": "in",
                            "value": ["COUNTRY", "JUNIOR", "INTERMEDIATE", "FIVE_DAY", "ACADEMY"],
                        },
                    ],
                },
            ],
        },
    },
    {
        "key": "tournament_regulars",
        "name": "Tournament regulars",
        "description": "Entered 3 or more competitions in the last year.",
        "rules": _all(
            {
                "field": "competitionEntryCount",
                "operator": "gte",
                "value": 3,
                "window": {"lastDays": 365},
            }
        ),
    },
    {
        "key": "weekday_morning_players",
        "name": "Weekday morning players",
        "description": "At least half of their bookings in the last 180 days were Monday to "
        "Friday before noon, and at least 3 bookings.",
        "rules": _all(
            {"field": "bookingCount", "operator": "gte", "value": 3, "window": {"lastDays": 180}},
            {
                "field": "weekdayMorningShare",
                "operator": "gte",
                "value": 50,
                "window": {"lastDays": 180},
            },
        ),
    },
    {
        "key": "regular_guests",
        "name": "Regular guests",
        "description": "Played two or more rounds as someone's guest in the last 90 days and "
        "are not members: the visitors to invite to join.",
        "rules": _all(
            {"field": "guestRounds", "operator": "gte", "value": 2, "window": {"lastDays": 90}},
            {"field": "membershipStatus", "operator": "neq", "value": "ACTIVE"},
        ),
    },
]


def templates_for(*, month: int) -> list[dict[str, Any]]:
    """The templates, with values that depend on today filled in."""
    result = []
    for template in TEMPLATES:
        item = {key: value for key, value in template.items() if key != "dynamicValue"}
        if template.get("dynamicValue") == "currentMonth":
            item["rules"] = _all({"field": "birthMonth", "operator": "eq", "value": month})
            item["description"] = "Birthday in the current month."
        result.append(item)
    return result
