"""What each catalogue event means for the customer graph: which source record it is about,
which fields of that record it observes, which records it links, and its timeline entry.

Pure functions of a validated Envelope; no database. Field names are Customer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiles.envelope import MESSAGE_TYPES, Envelope
from profiles.models import ActivityCategory, LinkReason, RecordKind

RecordRef = tuple[str, str]  # (kind, key)

# Things the person did: these make them "active" (last activity, 30-day activity count).
ENGAGEMENT_TYPES = frozenset(
    {
        "teetime.booking.created",
        "teetime.booking.completed",
        "teetime.booking.cancelled",
        "teetime.competition.entry.created",
        "teetime.score.posted",
        "scl.payment.received",
        "messaging.email.opened",
        "messaging.email.clicked",
        "messaging.contactPreference.updated",
    }
)


@dataclass
class ActivitySpec:
    type: str
    category: str
    title: str
    channel: str = ""
    amount_cents: int | None = None
    currency: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Interpretation:
    primary: RecordRef | None
    observations: dict[RecordRef, dict[str, Any]] = field(default_factory=dict)
    links: list[tuple[RecordRef, RecordRef, str]] = field(default_factory=list)
    activity: ActivitySpec | None = None
    erase: bool = False

    @property
    def subject(self) -> RecordRef:
        """The primary record, for the handlers of events about one person: each of their types
        requires the id `_primary` reads (payload memberId, playerId or contactId)."""
        assert self.primary is not None, "an event about a person names its record"
        return self.primary

    def observe(self, ref: RecordRef, **fields: Any) -> None:
        target = self.observations.setdefault(ref, {})
        target.update({key: value for key, value in fields.items() if value is not None})


# An envelope's identity hints and the records they name, the most precise first.
IDENTITY_HINTS = (
    ("sclMemberId", RecordKind.SCL_MEMBER),
    ("teetimePlayerId", RecordKind.TEETIME_PLAYER),
    ("messagingContactId", RecordKind.MESSAGING_CONTACT),
    ("authUserId", RecordKind.AUTH_USER),
    ("email", RecordKind.EMAIL),
    ("phoneNumber", RecordKind.PHONE),
)


def _money(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return ""
    return f"{cents / 100:,.2f} {currency or ''}".strip()


def _primary(env: Envelope) -> RecordRef | None:
    p, ident = env.payload, env.identity
    if env.known:
        if env.source == "scl" and p.get("memberId"):
            return (RecordKind.SCL_MEMBER, str(p["memberId"]))
        if env.source == "teetime" and p.get("playerId"):
            return (RecordKind.TEETIME_PLAYER, p["playerId"])
        if env.source == "messaging" and p.get("contactId"):
            return (RecordKind.MESSAGING_CONTACT, p["contactId"])
        if env.type.startswith("teetime.competition.") and "entry" not in env.type:
            return None  # about a competition, not a person
    for name, kind in IDENTITY_HINTS:
        if ident.get(name):
            return (kind, str(ident[name]))
    return None


def _identity_links(env: Envelope, result: Interpretation) -> None:
    """Strong ids named together in one envelope are one person; its email and phone hints are
    observations of the primary record."""
    primary = result.primary
    if primary is None:
        return
    ident = env.identity
    for name, kind in (
        ("sclMemberId", RecordKind.SCL_MEMBER),
        ("teetimePlayerId", RecordKind.TEETIME_PLAYER),
        ("messagingContactId", RecordKind.MESSAGING_CONTACT),
        ("authUserId", RecordKind.AUTH_USER),
    ):
        if ident.get(name) and (kind, str(ident[name])) != primary:
            result.links.append((primary, (kind, str(ident[name])), LinkReason.SAME_EVENT))
    if primary[0] not in (RecordKind.EMAIL, RecordKind.PHONE):
        result.observe(primary, email=ident.get("email"), phone_number=ident.get("phoneNumber"))


def interpret(env: Envelope) -> Interpretation:
    result = Interpretation(primary=_primary(env))
    _identity_links(env, result)
    if not env.known:
        result.activity = ActivitySpec(
            type=env.received_type,
            category=ActivityCategory.OTHER,
            title=f"Unrecognised event {env.received_type} (v{env.version})",
            data={"payload": env.payload},
        )
        return result
    handler = _HANDLERS.get(env.type)
    if handler is not None:
        handler(env, result)
    return result


# --- per type ----------------------------------------------------------------------------------


def _member(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    tier = p.get("tier") or {}
    r.observe(
        r.subject,
        first_name=p.get("firstName"),
        last_name=p.get("lastName"),
        email=p.get("email"),
        phone_number=p.get("phoneNumber"),
        date_of_birth=p.get("dateOfBirth"),
        gender=p.get("gender"),
        membership_tier=tier.get("code"),
        membership_status=p.get("status"),
        member_since=p.get("joinedOn"),
        renewal_due_on=p.get("renewalDueOn"),
        address=p.get("address"),
    )
    created = env.type.endswith("created")
    title = (
        f"Joined as {tier.get('name') or tier.get('code') or 'a'} member"
        if created
        else "Membership details updated"
    )
    r.activity = ActivitySpec(env.type, ActivityCategory.MEMBERSHIP, title)


def _tier_changed(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    to_tier, from_tier = p["toTier"], p.get("fromTier") or {}
    r.observe(r.subject, membership_tier=to_tier["code"])
    old = from_tier.get("name") or from_tier.get("code") or "?"
    title = f"Tier changed from {old} to {to_tier.get('name') or to_tier['code']}"
    r.activity = ActivitySpec(
        env.type,
        ActivityCategory.MEMBERSHIP,
        title,
        data={"from": from_tier.get("code"), "to": to_tier["code"]},
    )


def _status_changed(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    r.observe(r.subject, membership_status=p["toStatus"])
    title = f"Membership {(p.get('fromStatus') or '?').lower()} → {p['toStatus'].lower()}"
    if p.get("reason"):
        title += f" ({p['reason']})"
    r.activity = ActivitySpec(
        env.type, ActivityCategory.MEMBERSHIP, title, data={"to": p["toStatus"]}
    )


def _member_deleted(env: Envelope, r: Interpretation) -> None:
    r.erase = env.payload.get("reason") == "gdpr_erasure"
    r.activity = ActivitySpec(
        env.type, ActivityCategory.MEMBERSHIP, "Removed from the membership system"
    )


def _payment(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    amount = _money(p.get("amountCents"), p.get("currency"))
    purpose = (p.get("purpose") or "payment").replace("_", " ").lower()
    kind = env.type.rsplit(".", 1)[1]
    title = {
        "received": f"Paid {amount} ({purpose})",
        "failed": f"Payment of {amount} failed ({purpose})"
        # The service's reason code in words: "expired_card" -> "expired card".
        + (f": {str(p['failureReason']).replace('_', ' ')}" if p.get("failureReason") else ""),
        "refunded": f"Refunded {amount} ({purpose})",
    }[kind]
    cents = p.get("amountCents")
    if kind == "refunded" and cents is not None:
        cents = -cents
    r.activity = ActivitySpec(
        env.type, ActivityCategory.PAYMENT, title, amount_cents=cents,
        currency=p.get("currency") or "",
        data={"purpose": p.get("purpose"), "paymentId": p["paymentId"]},
    )  # fmt: skip


def _player(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    r.observe(
        r.subject,
        first_name=p.get("firstName"),
        last_name=p.get("lastName"),
        email=p.get("email"),
        phone_number=p.get("phoneNumber"),
        handicap=p.get("handicapIndex"),
        gender=p.get("gender"),
        date_of_birth=p.get("dateOfBirth"),
        home_club_id=p.get("homeClubId"),
    )
    if p.get("sclMemberId"):
        r.links.append(
            (r.subject, (RecordKind.SCL_MEMBER, str(p["sclMemberId"])), LinkReason.PLAYER_IS_MEMBER)
        )
    title = "Golf profile created" if env.type.endswith("created") else "Golf profile updated"
    r.activity = ActivitySpec(env.type, ActivityCategory.GOLF, title)


def _handicap(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    r.observe(r.subject, handicap=p.get("toIndex"))
    r.activity = ActivitySpec(
        env.type, ActivityCategory.GOLF, f"Handicap {p.get('fromIndex')} → {p.get('toIndex')}",
        data={"from": p.get("fromIndex"), "to": p.get("toIndex")},
    )  # fmt: skip


def _booking(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    kind = env.type.rsplit(".", 1)[1]
    where = f" at {p['courseName']}" if p.get("courseName") else ""
    when = f" for {p['teeTime']:%a %d %b %H:%M}" if p.get("teeTime") else ""
    holes = f"{p['holes']} holes" if p.get("holes") else "a round"
    title = {
        "created": f"Booked {holes}{where}{when}",
        "cancelled": "Cancelled a booking" + (f" ({p['reason']})" if p.get("reason") else ""),
        "completed": f"Played {holes}{where}",
        "no_show": "Missed a booking (no-show)",
    }[kind]
    r.activity = ActivitySpec(
        env.type, ActivityCategory.GOLF, title, channel=(p.get("channel") or "").upper(),
        amount_cents=p.get("amountCents") if kind == "created" else None,
        currency=p.get("currency") or "",
        data={
            "bookingId": p["bookingId"], "teeTime": p.get("teeTime"),
            **({"courseId": p["courseId"]} if p.get("courseId") else {}),
            **({"guestPlayerIds": p["guestPlayerIds"]} if p.get("guestPlayerIds") else {}),
            **({"partySize": p["partySize"]} if p.get("partySize") else {}),
        },
    )  # fmt: skip
    if kind == "created":
        # Every player in the four-ball becomes a customer: a guest TeeTime named only by id
        # is a record with no details yet (an anonymous "guest of <booker>") until a
        # teetime.player.created or the booker's guest form (RecordKind.GUEST_FORM) says more.
        for guest in p.get("guestPlayerIds") or ():
            r.observations.setdefault((RecordKind.TEETIME_PLAYER, guest), {})


def _entry(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    verb = "Entered" if env.type.endswith("created") else "Withdrew from"
    r.activity = ActivitySpec(
        env.type, ActivityCategory.COMPETITION, f"{verb} a competition",
        data={"competitionId": p["competitionId"]},
    )  # fmt: skip


def _score(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    parts = [
        f"{p['gross']} gross" if p.get("gross") else "",
        f"{p['net']:g} net" if p.get("net") is not None else "",
    ]
    title = "Posted a score: " + ", ".join(part for part in parts if part)
    if p.get("position"):
        title += f" (position {p['position']})"
    r.activity = ActivitySpec(
        env.type,
        ActivityCategory.COMPETITION,
        title,
        data={k: p.get(k) for k in ("competitionId", "gross", "net", "position")},
    )


def _contact(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    kind = env.type.rsplit(".", 1)[1]
    if kind != "deleted":
        r.observe(
            r.subject,
            first_name=p.get("firstName"),
            last_name=p.get("lastName"),
            email=p.get("email"),
            phone_number=p.get("phoneNumber"),
        )
    r.activity = ActivitySpec(env.type, ActivityCategory.PROFILE, f"Messaging contact {kind}")


_OPT_IN_FIELDS = {
    "EMAIL": "email_opt_in",
    "SMS": "sms_opt_in",
    "PUSH": "push_opt_in",
    "WHATSAPP": "whatsapp_opt_in",
}


def _preference(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    r.observe(r.subject, **{_OPT_IN_FIELDS[p["channel"]]: p["optedIn"]})
    verb = "Opted in to" if p["optedIn"] else "Opted out of"
    how = f" ({p['source'].replace('_', ' ').lower()})" if p.get("source") else ""
    r.activity = ActivitySpec(
        env.type,
        ActivityCategory.CONSENT,
        f"{verb} {p['channel'].lower()}{how}",
        channel=p["channel"],
    )


def _message(env: Envelope, r: Interpretation) -> None:
    p = env.payload
    kind = env.type.split(".", 1)[1]
    channel = (p.get("channel") or "").upper()
    noun = {"EMAIL": "an email", "SMS": "a text", "PUSH": "a push notification"}.get(
        channel, "a message"
    )
    titles = {
        "message.sent": f"Sent {noun}",
        "message.delivered": f"Delivered {noun}",
        "message.failed": f"Could not deliver {noun}",
        "message.bounced": f"{noun.capitalize()} bounced ({(p.get('bounceType') or '').lower()})",
        "message.complained": f"Marked {noun} as spam",
        "email.opened": "Opened an email",
        "email.clicked": "Clicked a link" + (f": {p['url']}" if p.get("url") else ""),
    }
    if kind == "message.bounced" and p.get("bounceType") == "HARD" and channel in ("", "EMAIL"):
        r.observe(r.subject, email_hard_bounced=True)
    if kind == "message.complained":
        r.observe(r.subject, complained=True)
    r.activity = ActivitySpec(
        env.type, ActivityCategory.MESSAGING, titles[kind], channel=channel or "EMAIL",
        data={k: p.get(k) for k in ("messageId", "sendId", "url", "bounceReason") if p.get(k)},
    )  # fmt: skip


_HANDLERS = {
    "scl.member.created": _member,
    "scl.member.updated": _member,
    "scl.member.tier.changed": _tier_changed,
    "scl.member.status.changed": _status_changed,
    "scl.member.deleted": _member_deleted,
    "scl.payment.received": _payment,
    "scl.payment.failed": _payment,
    "scl.payment.refunded": _payment,
    "teetime.player.created": _player,
    "teetime.player.updated": _player,
    "teetime.handicap.updated": _handicap,
    "teetime.booking.created": _booking,
    "teetime.booking.cancelled": _booking,
    "teetime.booking.completed": _booking,
    "teetime.booking.no_show": _booking,
    "teetime.competition.entry.created": _entry,
    "teetime.competition.entry.withdrawn": _entry,
    "teetime.score.posted": _score,
    "messaging.contact.created": _contact,
    "messaging.contact.updated": _contact,
    "messaging.contact.deleted": _contact,
    "messaging.contactPreference.updated": _preference,
    **dict.fromkeys(MESSAGE_TYPES, _message),
}
