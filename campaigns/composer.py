"""The composer's vocabulary, for people: schedules said in words ("every Monday at 09:00")
translated to the crontab the campaign keeps, the events a campaign can be triggered by, and
the templates a channel offers.

`template_choices` is the one place the composer asks which templates exist: the templates
the club can pick for a channel (`campaigns.email_templates`: the Messaging Service's list, or
with no Messaging Service the club's own email templates, starters included, then the
built-in fallback's `default` and the ids older campaigns already name, so a draft that names
one still shows it).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, TypedDict

from campaigns.models import Campaign, Channel

if TYPE_CHECKING:
    from campaigns.email_templates.selectors import TemplateListing

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Repeat rules a person picks; each becomes a 5-field cron in club time.
REPEATS = (
    ("weekly", "Every week on a day"),
    ("monthly", "First day of every month"),
    ("daily", "Every day"),
)

# Events a campaign can be triggered by (events.md), as a person says them.
TRIGGER_EVENTS = (
    ("teetime.booking.completed", "A golfer finishes a round"),
    ("teetime.booking.created", "A golfer books a tee time"),
    ("teetime.booking.no_show", "A golfer does not turn up for a tee time"),
    ("teetime.competition.entry.created", "A golfer enters a competition"),
    ("scl.payment.received", "A payment is received"),
    ("scl.payment.failed", "A payment fails"),
)


def recurrence_cron(*, repeat: str, at: dt.time, weekday: int = 0) -> str:
    """ "every Monday at 09:00" -> "0 9 * * 1" (cron counts Sunday as 0; `weekday` is
    Python's, Monday 0)."""
    if repeat == "weekly":
        return f"{at.minute} {at.hour} * * {(weekday + 1) % 7}"
    if repeat == "monthly":
        return f"{at.minute} {at.hour} 1 * *"
    if repeat == "daily":
        return f"{at.minute} {at.hour} * * *"
    raise ValueError(f"Unknown repeat rule {repeat!r}.")


_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) (\S+) \* (\S+)$")


class RecurrenceParts(TypedDict):
    repeat: str  # a key of REPEATS
    at: dt.time
    weekday: int  # Python's, Monday 0


def recurrence_parts(cron: str) -> RecurrenceParts | None:
    """The words of a crontab the composer made (None for anything else)."""
    match = _CRON.match((cron or "").strip())
    if not match:
        return None
    minute, hour, day, dow = match.groups()
    at = dt.time(int(hour) % 24, int(minute) % 60)
    if day == "1" and dow == "*":
        return {"repeat": "monthly", "at": at, "weekday": 0}
    if day == "*" and dow == "*":
        return {"repeat": "daily", "at": at, "weekday": 0}
    if day == "*" and dow.isdigit() and int(dow) <= 7:
        return {"repeat": "weekly", "at": at, "weekday": (int(dow) - 1) % 7}
    return None


def recurrence_label(cron: str) -> str:
    """ "0 9 * * 1" -> "every Monday at 09:00"; a cron the composer did not make stays as is."""
    parts = recurrence_parts(cron)
    if parts is None:
        return f"on the schedule {cron}" if cron else ""
    at = parts["at"].strftime("%H:%M")
    if parts["repeat"] == "monthly":
        return f"on the first day of every month at {at}"
    if parts["repeat"] == "daily":
        return f"every day at {at}"
    return f"every {WEEKDAYS[parts['weekday']]} at {at}"


def trigger_label(event_type: str) -> str:
    return dict(TRIGGER_EVENTS).get(event_type, event_type)


def template_choices(channel: str) -> tuple[list[tuple[str, str]], TemplateListing]:
    """The templates a person can pick for a channel, as (id, label), and the listing they came
    from (its `notice` says why a list is short or missing; `listed` False: type an id).

    With a Messaging Service only its own templates are offered: `templateId` must name one it
    holds (messaging.md), so the fallback's built-in `default` is not among them. With none
    (the fallback), the club's own templates come first, then `default` and the ids older
    campaigns already name (file templates the fallback renders), so a draft keeps its pick."""
    from campaigns.email_templates.selectors import template_choices as listed_choices

    listed, listing = listed_choices(channel=channel)
    if listing.source != "club":
        return listed, listing
    picked = dict(listed)
    choices: dict[str, str] = {}
    if channel == Channel.EMAIL:
        choices["default"] = "Club email (built-in: your subject and text, the club's footer)"
    used = (
        Campaign.objects.exclude(**{f"templates__{channel}__isnull": True})
        .values_list(f"templates__{channel}", flat=True)
        .distinct()[:50]
    )
    for template_id in used:
        if isinstance(template_id, str) and template_id and template_id not in choices:
            choices[template_id] = template_id.replace("_", " ").capitalize()
    rest = sorted(
        ((k, v) for k, v in choices.items() if k not in picked),
        key=lambda item: (item[0] != "default", item[1]),
    )
    return [*listed, *rest], listing


def template_name(channel: str, template_id: str) -> str:
    """A template's name for a person ("Newsletter"), without its raw subject; the id itself
    when no list names it."""
    choices, _listing = template_choices(channel)
    label = dict(choices).get(template_id, template_id)
    return label.split(" — ", 1)[0]
