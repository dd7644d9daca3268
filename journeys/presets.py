"""The ready-made golf journeys (`GET journey-templates`): ordinary definitions
(journeys/definition.py) a club copies (`POST journey-templates/<key>/copy`) and then edits in
the builder. A copy is a DRAFT: nothing runs until staff publish it.

Each template has a `key`, `name`, `description`, `definition` (with the builder's `label` and
`position` on every step) and `segments`: the segments its definition names, as slots to fill.
Only "win back a lapsing golfer" has one: "no booking in 60 days" is a segment (segments'
`lapsed_golfers` template), and the journey starts when a golfer enters it. A club's own segment
is used if it has one made from that template with the same rule; otherwise the copy makes it.

Choices made where the issue was silent:

- Template ids are the Messaging Service's (messaging.md); these are the ids a club's Messaging
  templates are expected to have (`member_welcome`, `renewal_30_reminder`, …), listed in
  `TEMPLATE_IDS`, and staff change them in the builder if theirs differ. A send step's
  `variables` only carry fixed values; the profile's (first name, …) are added at send time.
- Re-entry: welcome is once; birthday is every year (ALWAYS: its date trigger fires once a club
  day, on the birthday); renewal reminders again after 180 days (one run a year, even if SCL
  moves the due date by a few days); a thank you after a round at most once in 14 days; a failed
  payment and a new competition every time (one live enrolment at a time per customer: a
  competition published while a golfer is still in the previous one's 7 days does not reach
  them again).
- Goals: a booking for welcome and win-back, a subscription payment for renewal and payment
  recovery, an entry to that very competition (`matchTrigger: ["competitionId"]`).
- Builder positions are pixels on the canvas, the flow going down, branches side by side
  (`_at(column, row)`).
"""

from __future__ import annotations

import copy
from typing import Any

COLUMN_WIDTH = 280
ROW_HEIGHT = 140


def _at(column: float, row: int) -> dict[str, int]:
    return {"x": 40 + int(column * COLUMN_WIDTH), "y": 40 + row * ROW_HEIGHT}


def _all(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"combinator": "AND", "rules": list(rules)}


def _cond(field: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        rule["value"] = value
    rule.update(extra)
    return rule


_GONE = _cond("membershipStatus", "in", ["RESIGNED", "DECEASED"])
_SUBSCRIPTION_PAID = {
    "eventType": "scl.payment.received",
    "filters": {"payload": {"purpose": "SUBSCRIPTION"}},
    "matchTrigger": [],
}
_BOOKED = {"eventType": "teetime.booking.created", "filters": {}, "matchTrigger": []}

WELCOME = {
    "key": "welcome_new_member",
    "name": "Welcome a new member",
    "description": "A welcome email the day they join; tips if they opened it, an SMS nudge if "
    "not; a welcome call from the office if they have not booked a round in their first ten "
    "days. Booking a tee time is the goal.",
    "segments": [],
    "definition": {
        "trigger": {
            "type": "event",
            "eventType": "scl.member.created",
            "filters": {"payload": {"status": "ACTIVE"}},
            "firstTime": True,
        },
        "entryRule": None,
        "exitRule": _all(_GONE),
        "goal": _BOOKED,
        "reentry": {"policy": "ONCE"},
        "maxEnrolments": None,
        "start": "welcome_email",
        "steps": {
            "welcome_email": {
                "type": "send", "label": "Welcome email", "position": _at(1, 0),
                "channel": "EMAIL", "template": "member_welcome", "variables": {},
                "content": {"subject": "Welcome to the club"}, "priority": 3,
                "next": "opened_welcome",
            },
            "opened_welcome": {
                "type": "waitForEvent", "label": "Opened the welcome email?",
                "position": _at(1, 1), "eventType": "messaging.email.opened",
                "ofStep": "welcome_email", "timeout": {"days": 3},
                "onEvent": "getting_started", "onTimeout": "welcome_sms",
            },
            "getting_started": {
                "type": "send", "label": "Getting-started tips", "position": _at(0, 2),
                "channel": "EMAIL", "template": "member_getting_started",
                "variables": {"topics": ["booking_online", "handicap", "competitions"]},
                "content": {"subject": "Your first round: booking, handicap and competitions"},
                "next": "wait_a_week",
            },
            "welcome_sms": {
                "type": "send", "label": "SMS: book your first round", "position": _at(2, 2),
                "channel": "SMS", "template": "member_welcome_sms", "variables": {},
                "content": {}, "next": "wait_a_week",
            },
            "wait_a_week": {
                "type": "wait", "label": "Wait 7 days", "position": _at(1, 3),
                "duration": {"days": 7}, "next": "welcome_call",
            },
            "welcome_call": {
                "type": "notify", "label": "Welcome call", "position": _at(1, 4),
                "title": "Welcome call: new member has not booked yet",
                "body": "Ten days in and no tee time booked. Ring to say hello, offer a "
                "playing partner or a lesson with the pro.",
                "assignTo": "STAFF", "next": "end",
            },
            "end": {"type": "end", "label": "End", "position": _at(1, 5)},
        },
    },
}  # fmt: skip

WIN_BACK = {
    "key": "win_back_lapsing_golfer",
    "name": "Win back a lapsing golfer",
    "description": "When a golfer who used to book goes 60 days without a booking: a 'we miss "
    "you' email; if no booking within a week, an A/B test of a green-fee offer by SMS against "
    "a 'play with the roll-up' email; then a call from the office. A booking is the goal.",
    "segments": [
        {
            "path": "trigger.segmentId",
            "segmentTemplate": "lapsed_golfers",
            "name": "Lapsed golfers (no booking in 60 days)",
            "description": "Have booked before, but not in the last 60 days (made for the "
            "journey 'Win back a lapsing golfer').",
        }
    ],
    "definition": {
        "trigger": {"type": "segment", "on": "enter", "segmentId": None},
        "entryRule": None,
        "exitRule": _all(_GONE),
        "goal": _BOOKED,
        "reentry": {"policy": "AFTER_DAYS", "days": 90},
        "maxEnrolments": None,
        "start": "we_miss_you",
        "steps": {
            "we_miss_you": {
                "type": "send", "label": "We miss you", "position": _at(1, 0),
                "channel": "EMAIL", "template": "winback_we_miss_you", "variables": {},
                "content": {"subject": "The course misses you"}, "next": "booked_after_email",
            },
            "booked_after_email": {
                "type": "waitForEvent", "label": "Booked within 7 days?", "position": _at(1, 1),
                "eventType": "teetime.booking.created", "timeout": {"days": 7},
                "onEvent": None, "onTimeout": "offer_split",
            },
            "offer_split": {
                "type": "split", "label": "Offer A/B test", "position": _at(1, 2),
                "branches": [
                    {"key": "A", "label": "Green-fee offer by SMS", "percent": 50,
                     "next": "green_fee_sms"},
                    {"key": "B", "label": "Roll-up invitation by email", "percent": 50,
                     "next": "rollup_email"},
                ],
            },
            "green_fee_sms": {
                "type": "send", "label": "SMS: green-fee offer", "position": _at(0, 3),
                "channel": "SMS", "template": "winback_green_fee_offer",
                "variables": {"offerCode": "COMEBACK20", "discountPercent": 20},
                "content": {}, "next": "wait_two_weeks",
            },
            "rollup_email": {
                "type": "send", "label": "Email: join the roll-up", "position": _at(2, 3),
                "channel": "EMAIL", "template": "winback_rollup_invite", "variables": {},
                "content": {"subject": "Join the Saturday roll-up"}, "next": "wait_two_weeks",
            },
            "wait_two_weeks": {
                "type": "wait", "label": "Wait 14 days", "position": _at(1, 4),
                "duration": {"days": 14}, "next": "still_a_member",
            },
            "still_a_member": {
                "type": "condition", "label": "Active member?", "position": _at(1, 5),
                "rule": _all(_cond("membershipStatus", "eq", "ACTIVE")),
                "yes": "call_member", "no": "tag_lapsed",
            },
            "call_member": {
                "type": "notify", "label": "Call the member", "position": _at(0, 6),
                "title": "Lapsing member: no booking in over 10 weeks",
                "body": "Still paying, not playing. Ask how things are and whether anything "
                "is keeping them off the course.",
                "assignTo": "STAFF", "next": "tag_lapsed",
            },
            "tag_lapsed": {
                "type": "update", "label": "Tag as lapsed", "position": _at(1, 7),
                "addTags": ["lapsed-golfer"], "next": None,
            },
        },
    },
}  # fmt: skip

RENEWAL = {
    "key": "renewal_reminders",
    "name": "Membership renewal reminders",
    "description": "Reminders 90, 30 and 7 days before the renewal date. Engaged members get "
    "a thank-you with their season in numbers, others a reminder of what is on; a member with "
    "a failed payment gets a 'please update your card' email and a call from the office. "
    "Paying the subscription is the goal.",
    "segments": [],
    "definition": {
        "trigger": {"type": "date", "field": "renewalDueOn", "offsetDays": -90, "time": "09:00"},
        "entryRule": _all(_cond("membershipStatus", "eq", "ACTIVE")),
        "exitRule": _all(_GONE),
        "goal": _SUBSCRIPTION_PAID,
        "reentry": {"policy": "AFTER_DAYS", "days": 180},
        "maxEnrolments": None,
        "start": "engaged_90",
        "steps": {
            "engaged_90": {
                "type": "condition", "label": "Engaged member?", "position": _at(1, 0),
                "rule": {"combinator": "OR", "rules": [
                    _cond("engagementBand", "in", ["EXCELLENT", "GOOD"]),
                    _cond("roundsPlayed", "gte", 10, window={"lastDays": 365}),
                ]},
                "yes": "thanks_90", "no": "whats_on_90",
            },
            "thanks_90": {
                "type": "send", "label": "90 days: your season in numbers", "position": _at(0, 1),
                "channel": "EMAIL", "template": "renewal_90_engaged", "variables": {},
                "content": {"subject": "Thanks for a great season"}, "next": "until_30",
            },
            "whats_on_90": {
                "type": "send", "label": "90 days: what's on next season", "position": _at(2, 1),
                "channel": "EMAIL", "template": "renewal_90_reengage", "variables": {},
                "content": {"subject": "Your membership renews in three months"},
                "next": "until_30",
            },
            "until_30": {
                "type": "wait", "label": "Until 30 days before renewal", "position": _at(1, 2),
                "untilDate": {"field": "renewalDueOn", "offsetDays": -30, "time": "09:00"},
                "next": "payment_failed_30",
            },
            "payment_failed_30": {
                "type": "condition", "label": "Failed payment lately?", "position": _at(1, 3),
                "rule": _all(_cond("paymentFailedCount", "gte", 1, window={"lastDays": 90})),
                "yes": "update_card", "no": "reminder_30",
            },
            "update_card": {
                "type": "send", "label": "30 days: update your card", "position": _at(0, 4),
                "channel": "EMAIL", "template": "renewal_payment_problem", "variables": {},
                "content": {"subject": "Action needed before your renewal"}, "priority": 3,
                "next": "call_payment",
            },
            "call_payment": {
                "type": "notify", "label": "Call about the payment", "position": _at(0, 5),
                "title": "Renewal at risk: failed payment",
                "body": "A payment failed in the last 90 days and the renewal is due in 30. "
                "Call to sort out the card or a payment plan.",
                "assignTo": "ADMIN", "next": "until_7",
            },
            "reminder_30": {
                "type": "send", "label": "30 days: renewal reminder", "position": _at(2, 4),
                "channel": "EMAIL", "template": "renewal_30_reminder", "variables": {},
                "content": {"subject": "Your membership renews in 30 days"}, "next": "until_7",
            },
            "until_7": {
                "type": "wait", "label": "Until 7 days before renewal", "position": _at(1, 6),
                "untilDate": {"field": "renewalDueOn", "offsetDays": -7, "time": "10:00"},
                "next": "last_call_sms",
            },
            "last_call_sms": {
                "type": "send", "label": "7 days: last-call SMS", "position": _at(1, 7),
                "channel": "SMS", "template": "renewal_7_last_call", "variables": {},
                "content": {}, "priority": 3, "next": "low_engagement_7",
            },
            "low_engagement_7": {
                "type": "condition", "label": "Low engagement?", "position": _at(1, 8),
                "rule": _all(_cond("engagementBand", "in", ["LOW", "AT_RISK"])),
                "yes": "call_renewal", "no": None,
            },
            "call_renewal": {
                "type": "notify", "label": "Renewal call", "position": _at(0, 9),
                "title": "Renewal due in 7 days: member at risk of leaving",
                "body": "Low engagement and not renewed yet. A personal call from the office "
                "or the captain often keeps them.",
                "assignTo": "MARKETING", "next": None,
            },
        },
    },
}  # fmt: skip

BIRTHDAY = {
    "key": "birthday",
    "name": "Birthday",
    "description": "A birthday email every year at 09:00 club time: members get a pro-shop "
    "voucher, other golfers a birthday green-fee offer.",
    "segments": [],
    "definition": {
        "trigger": {"type": "date", "field": "dateOfBirth", "offsetDays": 0, "time": "09:00"},
        "entryRule": None,
        "exitRule": None,
        "goal": None,
        "reentry": {"policy": "ALWAYS"},
        "maxEnrolments": None,
        "start": "is_member",
        "steps": {
            "is_member": {
                "type": "condition", "label": "Member?", "position": _at(1, 0),
                "rule": _all(_cond("membershipStatus", "eq", "ACTIVE")),
                "yes": "member_birthday", "no": "golfer_birthday",
            },
            "member_birthday": {
                "type": "send", "label": "Birthday: pro-shop voucher", "position": _at(0, 1),
                "channel": "EMAIL", "template": "birthday_member_voucher",
                "variables": {"voucherAmount": "10.00", "voucherValidDays": 30},
                "content": {"subject": "Happy birthday from the club"}, "next": "end",
            },
            "golfer_birthday": {
                "type": "send", "label": "Birthday: green-fee offer", "position": _at(2, 1),
                "channel": "EMAIL", "template": "birthday_green_fee_offer",
                "variables": {"discountPercent": 25, "offerValidDays": 30},
                "content": {"subject": "Happy birthday: a round on us (well, a quarter of one)"},
                "next": "end",
            },
            "end": {"type": "end", "label": "End", "position": _at(1, 2)},
        },
    },
}  # fmt: skip

THANK_YOU = {
    "key": "thank_you_after_round",
    "name": "Thank you after a round",
    "description": "Two hours after a round is played, a thank-you email asking how it went; "
    "a golfer who clicks through to the feedback form is tagged, one who does not gets a "
    "one-line SMS ask two days later.",
    "segments": [],
    "definition": {
        "trigger": {"type": "event", "eventType": "teetime.booking.completed", "filters": {},
                    "firstTime": False},
        "entryRule": None,
        "exitRule": None,
        "goal": None,
        "reentry": {"policy": "AFTER_DAYS", "days": 14},
        "maxEnrolments": None,
        "start": "after_the_round",
        "steps": {
            "after_the_round": {
                "type": "wait", "label": "Wait 2 hours", "position": _at(1, 0),
                "duration": {"hours": 2}, "next": "thank_you",
            },
            "thank_you": {
                "type": "send", "label": "Thank you + feedback ask", "position": _at(1, 1),
                "channel": "EMAIL", "template": "round_thank_you_feedback",
                "variables": {"surveyKey": "post_round"},
                "content": {"subject": "Thanks for playing: how was your round?"},
                "next": "gave_feedback",
            },
            "gave_feedback": {
                "type": "waitForEvent", "label": "Clicked through to the feedback form?",
                "position": _at(1, 2), "eventType": "messaging.email.clicked",
                "ofStep": "thank_you", "timeout": {"days": 2},
                "onEvent": "tag_feedback", "onTimeout": "feedback_sms",
            },
            "tag_feedback": {
                "type": "update", "label": "Tag: gave feedback", "position": _at(0, 3),
                "addTags": ["gave-feedback"], "next": None,
            },
            "feedback_sms": {
                "type": "send", "label": "SMS: one-tap rating", "position": _at(2, 3),
                "channel": "SMS", "template": "round_feedback_sms",
                "variables": {"surveyKey": "post_round"}, "content": {}, "priority": 1,
                "next": None,
            },
        },
    },
}  # fmt: skip

PAYMENT_RECOVERY = {
    "key": "failed_payment_recovery",
    "name": "Failed payment recovery",
    "description": "When a subscription payment fails: an email with a link to update the "
    "card at once, an SMS two days later, a call from the office after five, and a tag for "
    "the committee after twelve. The subscription being paid is the goal.",
    "segments": [],
    "definition": {
        "trigger": {"type": "event", "eventType": "scl.payment.failed",
                    "filters": {"payload": {"purpose": "SUBSCRIPTION"}}, "firstTime": False},
        "entryRule": None,
        "exitRule": _all(_GONE),
        "goal": _SUBSCRIPTION_PAID,
        "reentry": {"policy": "ALWAYS"},
        "maxEnrolments": None,
        "start": "payment_failed_email",
        "steps": {
            "payment_failed_email": {
                "type": "send", "label": "Email: update your card", "position": _at(1, 0),
                "channel": "EMAIL", "template": "payment_failed_update_card", "variables": {},
                "content": {"subject": "Your subscription payment did not go through"},
                "priority": 3, "next": "wait_2_days",
            },
            "wait_2_days": {
                "type": "wait", "label": "Wait 2 days", "position": _at(1, 1),
                "duration": {"days": 2}, "next": "payment_failed_sms",
            },
            "payment_failed_sms": {
                "type": "send", "label": "SMS reminder", "position": _at(1, 2),
                "channel": "SMS", "template": "payment_failed_sms", "variables": {},
                "content": {}, "priority": 3, "next": "wait_3_days",
            },
            "wait_3_days": {
                "type": "wait", "label": "Wait 3 days", "position": _at(1, 3),
                "duration": {"days": 3}, "next": "call_member",
            },
            "call_member": {
                "type": "notify", "label": "Call the member", "position": _at(1, 4),
                "title": "Subscription payment still failing after 5 days",
                "body": "Call to take the payment by phone or agree a plan.",
                "assignTo": "ADMIN", "next": "wait_7_days",
            },
            "wait_7_days": {
                "type": "wait", "label": "Wait 7 days", "position": _at(1, 5),
                "duration": {"days": 7}, "next": "flag_arrears",
            },
            "flag_arrears": {
                "type": "update", "label": "Tag: in arrears", "position": _at(1, 6),
                "addTags": ["subscription-arrears"],
                "note": "Subscription payment failed and was not recovered within 12 days.",
                "next": None,
            },
        },
    },
}  # fmt: skip

COMPETITION = {
    "key": "new_competition",
    "name": "New competition: invite eligible players",
    "description": "When a competition is published, every golfer with a handicap who has "
    "booked in the last year is invited; those who have not entered that competition within "
    "four days get an SMS reminder, and those who still have not, a last call. An entry to "
    "that competition is the goal.",
    "segments": [],
    "definition": {
        "trigger": {"type": "event", "eventType": "teetime.competition.published",
                    "filters": {}, "firstTime": False},
        "entryRule": _all(
            _cond("handicap", "isNotNull"),
            _cond("bookingCount", "gte", 1, window={"lastDays": 365}),
            _cond("membershipStatus", "notIn", ["SUSPENDED", "RESIGNED", "DECEASED"]),
        ),
        "exitRule": None,
        "goal": {"eventType": "teetime.competition.entry.created", "filters": {},
                 "matchTrigger": ["competitionId"]},
        "reentry": {"policy": "ALWAYS"},
        "maxEnrolments": None,
        "start": "invite",
        "steps": {
            "invite": {
                "type": "send", "label": "Competition invitation", "position": _at(1, 0),
                "channel": "EMAIL", "template": "competition_invite", "variables": {},
                "content": {"subject": "Entries are open: new competition"},
                "next": "entered_4_days",
            },
            "entered_4_days": {
                "type": "waitForEvent", "label": "Entered within 4 days?", "position": _at(1, 1),
                "eventType": "teetime.competition.entry.created",
                "matchTrigger": ["competitionId"], "timeout": {"days": 4},
                "onEvent": None, "onTimeout": "reminder_sms",
            },
            "reminder_sms": {
                "type": "send", "label": "SMS reminder", "position": _at(2, 2),
                "channel": "SMS", "template": "competition_entry_reminder", "variables": {},
                "content": {}, "next": "entered_3_days",
            },
            "entered_3_days": {
                "type": "waitForEvent", "label": "Entered within 3 more days?",
                "position": _at(2, 3), "eventType": "teetime.competition.entry.created",
                "matchTrigger": ["competitionId"], "timeout": {"days": 3},
                "onEvent": None, "onTimeout": "last_call",
            },
            "last_call": {
                "type": "send", "label": "Last call email", "position": _at(3, 4),
                "channel": "EMAIL", "template": "competition_last_call", "variables": {},
                "content": {"subject": "Last call: a few places left"}, "priority": 1,
                "next": None,
            },
        },
    },
}  # fmt: skip


def _after_round_email(
    *,
    key: str,
    name: str,
    description: str,
    reentry_days: int,
    wait_step: str,
    wait_label: str,
    send_at: str,
    send_step: str,
    send_label: str,
    template: str,
    subject: str,
) -> dict[str, Any]:
    """A template for one email about a round just played: a completed booking starts it, it
    waits until `send_at` (club time, HH:MM) and sends, and a golfer who leaves the club is let
    go. The send carries the round's own signed links (journeys.engine adds `links.surveyUrl` /
    `links.guestFormUrl` to a send whose trigger event names a booking)."""
    return {
        "key": key,
        "name": name,
        "description": description,
        "segments": [],
        "definition": {
            "trigger": {"type": "event", "eventType": "teetime.booking.completed",
                        "filters": {}, "firstTime": False},
            "entryRule": None,
            "exitRule": _all(_GONE),
            "goal": None,
            "reentry": {"policy": "AFTER_DAYS", "days": reentry_days},
            "maxEnrolments": None,
            "start": wait_step,
            "steps": {
                wait_step: {
                    "type": "wait", "label": wait_label, "position": _at(1, 0),
                    "until": {"time": send_at}, "next": send_step,
                },
                send_step: {
                    "type": "send", "label": send_label, "position": _at(1, 1),
                    "channel": "EMAIL", "template": template, "variables": {},
                    "content": {"subject": subject}, "next": None,
                },
            },
        },
    }  # fmt: skip


# The morning after a round: the two-question survey (journeys.surveys). Answers reach the
# timeline and, for a detractor, a staff task; a promoter is shown the club's review link.
AFTER_ROUND_SURVEY = _after_round_email(
    key="after_round_survey",
    name="After the round: two-question survey",
    description="The morning after a round, an email asking how likely they are to "
    "recommend the club (0-10) and what one thing it should improve. Detractors open a task "
    "for the club manager; promoters are invited to leave a review.",
    reentry_days=7,
    wait_step="next_morning",
    wait_label="Next morning, 09:30",
    send_at="09:30",
    send_step="survey",
    send_label="Email: how was your round?",
    template="round_nps_survey",
    subject="How was your round?",
)

# After a round with guests, the booker is asked to name their playing partners (the guest
# form, profiles.rounds). Bookers whose partners are all known see a thank-you on the page.
ASK_FOR_GUESTS = _after_round_email(
    key="ask_booker_for_guests",
    name="Ask the booker who they played with",
    description="The evening after a round, the booker gets a link to a club page where "
    "they can add their playing partners' names and email or phone (each partner's own wish "
    "to hear from the club is asked there, never assumed).",
    reentry_days=14,
    wait_step="evening",
    wait_label="That evening, 19:00",
    send_at="19:00",
    send_step="ask",
    send_label="Email: who did you play with?",
    template="round_name_your_guests",
    subject="Who did you play with?",
)

VISITOR_TO_MEMBER = {
    "key": "visitor_to_member",
    "name": "Visitor to member",
    "description": "A guest who has played two or more rounds in 90 days and is not a "
    "member gets an invitation to join; if they have not joined within two weeks, the "
    "membership secretary is asked to call. Joining is the goal.",
    "segments": [
        {
            "path": "trigger.segmentId",
            "segmentTemplate": "regular_guests",
            "name": "Regular guests (2+ rounds as a guest in 90 days, not members)",
            "description": "Made for the journey 'Visitor to member'.",
        }
    ],
    "definition": {
        "trigger": {"type": "segment", "on": "enter", "segmentId": None},
        "entryRule": None,
        "exitRule": _all(_GONE),
        "goal": {"eventType": "scl.member.created", "filters": {}, "matchTrigger": []},
        "reentry": {"policy": "AFTER_DAYS", "days": 180},
        "maxEnrolments": None,
        "start": "invite",
        "steps": {
            "invite": {
                "type": "send", "label": "Email: become a member", "position": _at(1, 0),
                "channel": "EMAIL", "template": "guest_membership_invite", "variables": {},
                "content": {"subject": "Enjoyed your rounds with us?"}, "next": "wait",
            },
            "wait": {
                "type": "wait", "label": "Wait 14 days", "position": _at(1, 1),
                "duration": {"days": 14}, "next": "call",
            },
            "call": {
                "type": "notify", "label": "Call about membership", "position": _at(1, 2),
                "title": "Regular guest: invite them to join",
                "body": "Has played here several times as a guest; invited by email to join.",
                "assignTo": "STAFF", "next": None,
            },
        },
    },
}  # fmt: skip

TEMPLATES: list[dict[str, Any]] = [
    WELCOME,
    WIN_BACK,
    RENEWAL,
    BIRTHDAY,
    THANK_YOU,
    PAYMENT_RECOVERY,
    COMPETITION,
    AFTER_ROUND_SURVEY,
    ASK_FOR_GUESTS,
    VISITOR_TO_MEMBER,
]
# Every Messaging template id the templates name (a club's Messaging Service holds them).
TEMPLATE_IDS: tuple[str, ...] = tuple(
    step["template"]
    for template in TEMPLATES
    for step in template["definition"]["steps"].values()
    if step["type"] == "send"
)


def journey_template_get(*, key: str) -> dict[str, Any] | None:
    return next((t for t in TEMPLATES if t["key"] == key), None)


def _set_path(definition: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = definition
    for name in parents:
        target = target[name]
    target[last] = value


def template_definition(
    *, template: dict[str, Any], segment_ids: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A fresh copy of the template's definition, its segment slots filled from
    `segment_ids` (segment template key -> the club's segment id; a missing one stays null)."""
    definition = copy.deepcopy(template["definition"])
    for slot in template["segments"]:
        value = (segment_ids or {}).get(slot["segmentTemplate"])
        _set_path(definition, slot["path"], str(value) if value is not None else None)
    return definition


def club_template_segments() -> dict[str, Any]:
    """Segment template key -> the id of this club's segment made from it (with the rule the
    template has, so a club that edited its copy into something else gets a fresh one)."""
    from segments.models import Segment, SegmentType
    from segments.presets import TEMPLATES as SEGMENT_TEMPLATES

    wanted = {slot["segmentTemplate"] for template in TEMPLATES for slot in template["segments"]}
    rules = {t["key"]: t["rules"] for t in SEGMENT_TEMPLATES if t["key"] in wanted}
    found: dict[str, Any] = {}
    for segment in Segment.objects.filter(
        template_key__in=wanted, type=SegmentType.DYNAMIC
    ).order_by("created_at"):
        if segment.template_key not in found and segment.rules == rules.get(segment.template_key):
            found[segment.template_key] = segment.id
    return found


def journey_templates() -> list[dict[str, Any]]:
    """The templates as `GET journey-templates` shows them: a segment slot holds the club's
    matching segment if it has one, else null (copying makes the segment)."""
    segment_ids = club_template_segments()
    return [
        {
            "key": template["key"],
            "name": template["name"],
            "description": template["description"],
            "segments": [
                {**slot, "segmentId": _str(segment_ids.get(slot["segmentTemplate"]))}
                for slot in template["segments"]
            ],
            "definition": template_definition(template=template, segment_ids=segment_ids),
        }
        for template in TEMPLATES
    ]


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None
