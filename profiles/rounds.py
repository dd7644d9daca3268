"""The whole four-ball: guests of a booking as customers, and the booker's guest form.

Every player of a `teetime.booking.created` becomes a customer (profiles.catalogue makes a
TeeTime record for each of `guestPlayerIds`; profiles.apply writes each guest a timeline entry
`teetime.booking.guest` naming the booking and the booker's record). A guest TeeTime knows
nothing more about stays an anonymous "guest of <booker>" until a `teetime.player.created` or
the guest form names them.

The guest form: a club-branded page the platform hosts, reached by a signed, expiring link
(`round_link_url`, like the unsubscribe link: no login; the signature names the club, the
booking and the booker, so it cannot be guessed or moved to another club). The booker gives
each partner's name and an email or phone; each answer becomes a source record of kind
`guest_form` (key `<bookingId>:<guest playerId>`), hard-linked to the guest's TeeTime record,
and resolves like any other record. The guest's own wish to hear from the club is asked and
recorded on the page (a timeline entry), never assumed from the booker: it does not opt them in,
because consent belongs to the Messaging Service (events.md: the CRM mirrors it read-only), and
until a `messaging.contactPreference.updated` says so, the guest is not opted in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from crm.tenants.selectors import tenant_current
from profiles.apply import GUEST_ROUND, _publish_profile_events
from profiles.models import (
    Activity,
    ActivityCategory,
    Customer,
    CustomerStatus,
    LinkReason,
    RecordKind,
    RecordLink,
    SourceRecord,
)
from profiles.normalise import normalise_email, normalise_phone
from profiles.projection import customers_project
from profiles.resolution import identity_recompute

LINK_SALT = "profiles.rounds.link"
LINK_MAX_AGE = dt.timedelta(days=14)
LINK_KINDS = ("guests", "survey")
GUEST_FORM_ACTIVITY = "crm.guest_form.named"


class LinkInvalid(Exception):
    """A round link that was not made by this platform for this club."""


class LinkExpired(Exception):
    """A round link older than LINK_MAX_AGE."""


def round_link_token(*, kind: str, booking_id: str, customer_id: Any) -> str:
    payload = {"c": str(tenant_current().id), "k": kind, "b": booking_id, "u": str(customer_id)}
    return signing.dumps(payload, salt=LINK_SALT, compress=True)


def round_link_url(*, kind: str, booking_id: str, customer_id: Any) -> str:
    base = settings.CAMPAIGNS_PUBLIC_BASE_URL.rstrip("/")
    token = round_link_token(kind=kind, booking_id=booking_id, customer_id=customer_id)
    return f"{base}/t/{tenant_current().id}/round/{kind}/{token}"


def round_link_read(*, token: str, kind: str, now: dt.datetime | None = None) -> dict[str, str]:
    """The booking and customer a link stands for. Raises LinkExpired or LinkInvalid."""
    try:
        payload = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise LinkExpired from exc
    except signing.BadSignature as exc:
        raise LinkInvalid from exc
    if (
        not isinstance(payload, dict)
        or payload.get("c") != str(tenant_current().id)
        or payload.get("k") != kind
    ):
        raise LinkInvalid
    return {"bookingId": str(payload.get("b")), "customerId": str(payload.get("u"))}


def booking_links(*, booking_id: str, customer_id: Any) -> dict[str, str]:
    """The links a journey's message after a round carries (journeys.engine adds them to a
    send whose trigger was about a booking)."""
    return {
        "guestFormUrl": round_link_url(
            kind="guests", booking_id=booking_id, customer_id=customer_id
        ),
        "surveyUrl": round_link_url(kind="survey", booking_id=booking_id, customer_id=customer_id),
    }


# --- guests of a booking ----------------------------------------------------------------------


@dataclass
class Guest:
    player_id: str
    record_id: int
    customer: Customer | None
    named: bool  # the club knows a name and a way to reach them


def booking_guests(*, booking_id: str) -> list[Guest]:
    """The guests of a booking, in the order TeeTime listed them."""
    rows = list(
        Activity.objects.filter(type=GUEST_ROUND, data__bookingId=booking_id)
        .select_related("record", "customer")
        .order_by("id")
    )
    guests = []
    for row in rows:
        if row.record is None:
            continue
        customer = row.customer
        named = bool(
            customer
            and (customer.first_name or customer.last_name)
            and (customer.email or customer.phone_number)
        )
        guests.append(Guest(row.record.key, row.record.id, customer, named))
    return guests


def booking_booker(*, booking_id: str) -> Customer | None:
    row = (
        Activity.objects.filter(type="teetime.booking.created", data__bookingId=booking_id)
        .select_related("customer")
        .first()
    )
    return row.customer if row else None


@dataclass
class GuestEntry:
    player_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    wants_news: bool


def _observed(value: Any, stamp: str, tiebreak: str) -> list[Any]:
    return [value, stamp, tiebreak]


@transaction.atomic
def guest_form_submit(
    *, booking_id: str, booker: Customer, entries: list[GuestEntry], now: dt.datetime | None = None
) -> list[Customer]:
    """Record the booker's answers for their guests. Every entry is checked first (a name, and
    an email or a phone; a player of this booking not named before); one fault refuses all of
    them, naming the entry and field. Returns the guests' customers as resolved."""
    now = now or timezone.now()
    country = tenant_current().country
    guests = {g.player_id: g for g in booking_guests(booking_id=booking_id)}
    errors: dict[str, list[str]] = {}
    clean: list[tuple[GuestEntry, str, str, Guest]] = []
    if not entries:
        raise ValidationError({"guests": ["Name at least one of your playing partners."]})
    for index, entry in enumerate(entries):
        path = f"guests[{index}]"
        guest = guests.get(entry.player_id)
        if guest is None:
            errors.setdefault(f"{path}.playerId", []).append("Not a guest of this booking.")
            continue
        if SourceRecord.objects.filter(
            kind=RecordKind.GUEST_FORM, key=f"{booking_id}:{entry.player_id}"
        ).exists():
            errors.setdefault(path, []).append("This guest has already been named.")
            continue
        if not (entry.first_name.strip() or entry.last_name.strip()):
            errors.setdefault(f"{path}.firstName", []).append("Give their name.")
        email = normalise_email(entry.email) if entry.email.strip() else ""
        if email and ("@" not in email or "." not in email.split("@")[-1]):
            errors.setdefault(f"{path}.email", []).append("Enter a valid email address.")
        phone = ""
        if entry.phone.strip():
            phone = normalise_phone(entry.phone, default_country=country) or ""
            if not phone:
                errors.setdefault(f"{path}.phone", []).append("Not a phone number.")
        if not entry.email.strip() and not entry.phone.strip():
            errors.setdefault(f"{path}.email", []).append("Give an email address or a phone.")
        clean.append((entry, email, phone, guest))
    if errors:
        raise ValidationError(errors)

    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seeds: set[int] = set()
    for entry, email, phone, guest in clean:
        tiebreak = f"guest_form:{booking_id}:{entry.player_id}"
        attributes = {
            name: _observed(value, stamp, tiebreak)
            for name, value in (
                ("first_name", entry.first_name.strip()[:100]),
                ("last_name", entry.last_name.strip()[:100]),
                ("email", email),
                ("phone_number", phone),
            )
            if value
        }
        record = SourceRecord.objects.create(
            kind=RecordKind.GUEST_FORM,
            key=f"{booking_id}:{entry.player_id}",
            email=email,
            phone=phone,
            attributes=attributes,
        )
        a, b = sorted(
            (record, SourceRecord.objects.get(id=guest.record_id)), key=lambda r: (r.kind, r.key)
        )
        RecordLink.objects.get_or_create(
            a=a, b=b, reason=LinkReason.GUEST_FORM, defaults={"created_by": "guest form"}
        )
        seeds |= {record.id, guest.record_id}
    outcome, _conflicts = identity_recompute(seed_record_ids=seeds)
    changed = customers_project(customer_ids=outcome.touched)
    # Other services follow the CRM's decisions (crm.profile.created/updated/merged), as when
    # an event changes who is who.
    _publish_profile_events(outcome, changed, tenant_current())
    by_record = dict(SourceRecord.objects.filter(id__in=seeds).values_list("id", "customer_id"))
    resolved = []
    booker_name = booker.display_name or "the booker"
    for entry, _email, _phone, guest in clean:
        customer_id = by_record.get(guest.record_id)
        Activity.objects.create(
            customer_id=customer_id,
            record_id=guest.record_id,
            type=GUEST_FORM_ACTIVITY,
            category=ActivityCategory.PROFILE,
            title=(
                f"Named by {booker_name} as a playing partner; "
                + ("asked to hear from the club" if entry.wants_news else "no news from the club")
            )[:300],
            source="crm",
            occurred_at=now,
            counts_as_activity=False,
            data={
                "bookingId": booking_id,
                "bookerId": str(booker.id),
                "wantsNews": entry.wants_news,
                "answeredAt": now.isoformat(),
            },
        )
        assert customer_id is not None  # identity_recompute gave each seed record a customer
        resolved.append(Customer.objects.get(id=customer_id))
    return resolved


# --- what the customer page shows ---------------------------------------------------------------

_PLAYS_WITH = """
WITH mine AS (
    SELECT DISTINCT a.data->>'bookingId' AS booking
    FROM profiles_activity AS a
    WHERE a.customer_id = %(c)s AND a.type IN ('teetime.booking.created', %(guest)s)
),
players AS (
    SELECT a.data->>'bookingId' AS booking, a.customer_id
    FROM profiles_activity AS a JOIN mine ON mine.booking = a.data->>'bookingId'
    WHERE a.type IN ('teetime.booking.created', %(guest)s) AND a.customer_id IS NOT NULL
)
SELECT customer_id, count(DISTINCT booking) AS rounds FROM players
WHERE customer_id <> %(c)s GROUP BY customer_id ORDER BY rounds DESC, customer_id LIMIT %(n)s
"""


def customer_guest_summary(*, customer: Customer, limit: int = 5) -> dict[str, Any]:
    """Rounds as a guest, whose guest, the last one, and who they play with most."""
    rounds = list(
        Activity.objects.filter(customer=customer, type=GUEST_ROUND).values_list(
            "occurred_at", "data"
        )
    )
    booker_records = {d.get("bookerRecordId") for _at, d in rounds if d.get("bookerRecordId")}
    bookers = dict(
        SourceRecord.objects.filter(id__in=booker_records).values_list("id", "customer_id")
    )
    hosts = Customer.objects.in_bulk({c for c in bookers.values() if c})
    counts: dict[Any, int] = {}
    for _at, data in rounds:
        host = bookers.get(data.get("bookerRecordId"))
        if host:
            counts[host] = counts.get(host, 0) + 1
    with connection.cursor() as cursor:
        cursor.execute(_PLAYS_WITH, {"c": customer.id, "guest": GUEST_ROUND, "n": limit})
        partners = cursor.fetchall()
    people = Customer.objects.in_bulk([cid for cid, _n in partners])
    return {
        "roundsAsGuest": len(rounds),
        "lastPlayedAsGuestAt": max((at for at, _d in rounds), default=None),
        "playedAsGuestOf": [
            {"customerId": str(cid), "name": _label(hosts.get(cid)), "rounds": n}
            for cid, n in sorted(counts.items(), key=lambda item: -item[1])
        ],
        "playsWithMost": [
            {"customerId": str(cid), "name": _label(people.get(cid)), "rounds": n}
            for cid, n in partners
        ],
    }


def _label(customer: Customer | None) -> str:
    if customer is None:
        return "(unknown)"
    if customer.status == CustomerStatus.DELETED:
        return "(erased)"
    return customer.display_name or guest_label(customer=customer)


def guest_label(*, customer: Customer) -> str:
    """How an anonymous guest is shown: "Guest of Aoife Byrne"."""
    row = (
        Activity.objects.filter(customer=customer, type=GUEST_ROUND)
        .order_by("-occurred_at")
        .values_list("data", flat=True)
        .first()
    )
    if not row:
        return str(customer.id)
    host = (
        SourceRecord.objects.filter(id=row.get("bookerRecordId")).select_related("customer").first()
    )
    name = host.customer.display_name if host and host.customer else ""
    return f"Guest of {name}" if name else "Guest"


def rounds_customer_erase(customer: Customer, identifiers: dict[str, set[str]]) -> None:
    """Erasure hook (profiles/erasure.py): other golfers' timelines name an erased booker ("Played
    as a guest of …", the guest form's "Named by …"); those entries lose the name and the ids.
    The erased person's own entries are scrubbed by customer_erase itself."""
    players = sorted(identifiers.get(RecordKind.TEETIME_PLAYER, set()))
    if players:
        Activity.objects.filter(type=GUEST_ROUND, data__bookerPlayerId__in=players).update(
            title="Played as a guest", data={}
        )
    Activity.objects.filter(type=GUEST_FORM_ACTIVITY, data__bookerId=str(customer.id)).update(
        title="Named as a playing partner", data={}
    )


_CAPTURE = """
WITH bookings AS (
    SELECT date_trunc('week', a.occurred_at AT TIME ZONE %(tz)s)::date AS week,
           a.data->>'bookingId' AS booking,
           greatest(coalesce((a.data->>'partySize')::int, 1),
                    1 + coalesce(jsonb_array_length(a.data->'guestPlayerIds'), 0)) AS players,
           (c.first_name <> '' OR c.last_name <> '')::int AS booker_named
    FROM profiles_activity AS a LEFT JOIN profiles_customer AS c ON c.id = a.customer_id
    WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(since)s
),
guests AS (
    SELECT a.data->>'bookingId' AS booking,
           count(*) FILTER (WHERE c.first_name <> '' OR c.last_name <> '') AS named
    FROM profiles_activity AS a JOIN profiles_customer AS c ON c.id = a.customer_id
    WHERE a.type = %(guest)s AND a.occurred_at >= %(since)s
    GROUP BY 1
)
SELECT b.week, sum(b.players), sum(b.booker_named + coalesce(g.named, 0))
FROM bookings AS b LEFT JOIN guests AS g ON g.booking = b.booking
GROUP BY b.week ORDER BY b.week
"""


def capture_rate_weekly(
    *, weeks: int = 8, now: dt.datetime | None = None, since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Per week the bookings were made (club time, from Monday): players on the sheet (the
    party size, or the booker and their guests), how many of them the club can name, and the
    capture rate (%). For the dashboard's "capture rate" tile. Bookings since `since` (default:
    `weeks` before now); weeks without bookings are absent."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CAPTURE,
            {
                "tz": tenant_current().timezone or "UTC",
                "since": since or now - dt.timedelta(weeks=weeks),
                "guest": GUEST_ROUND,
            },
        )
        rows = cursor.fetchall()
    return [
        {
            "weekStarting": week.isoformat(),
            "players": int(players),
            "named": int(named),
            "captureRate": round(100 * int(named) / int(players), 1) if players else None,
        }
        for week, players, named in rows  # sums are numeric: ints, or JSON cannot say them
    ]
