"""Writes of the Social Publisher: accounts, images, posts, scheduling and approval.

Each write runs in one transaction with an audit row; Celery work is queued on commit with ids.
Publishing itself (the network calls) is in social.publishing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from crm.accounts.models import ApiKey, User
from crm.accounts.services import audit_record
from crm.tenants.selectors import tenant_current
from social.clients.base import TokenSet
from social.crypto import token_encrypt
from social.models import (
    EDITABLE_STATUSES,
    AccountStatus,
    ApprovalStatus,
    Network,
    Post,
    PostImage,
    PostVariant,
    ScheduleMode,
    SocialAccount,
    SocialSettings,
    VariantStatus,
)
from social.rules import MAX_UPLOAD_BYTES, RULES, ImageInfo, sniff_image_type, variant_errors

# How far ahead "next free queue slot" looks before giving up.
QUEUE_HORIZON_DAYS = 60
# Facebook and Instagram fetch our images some time after we hand them the URL.
MEDIA_URL_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member (admin or API session) or an API key. `is_admin` is the
    club ADMIN role, or a key with `crm:admin`: they may connect accounts and approve posts."""

    user: User | None = None
    api_key: ApiKey | None = None
    label: str = ""
    is_admin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def audit(self, **kwargs: Any) -> None:
        audit_record(
            actor_user=self.user,
            actor_api_key=self.api_key,
            actor_label=self.label or (self.user.email if self.user else ""),
            **kwargs,
        )


SYSTEM = Actor(label="system", is_admin=True)


def _schema() -> str:
    return connection.schema_name


# --- Accounts --------------------------------------------------------------------------------


@transaction.atomic
def account_connect(
    *,
    actor: Actor,
    network: str,
    remote_id: str,
    name: str,
    tokens: TokenSet,
    username: str = "",
    linked_page_id: str = "",
) -> SocialAccount:
    """Connect an account, or reconnect it (new tokens, status back to CONNECTED). Only a club
    ADMIN connects accounts."""
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can connect social accounts.")
    account, created = SocialAccount.objects.select_for_update().get_or_create(
        network=network,
        remote_id=remote_id,
        defaults={"name": name, "access_token_enc": ""},
    )
    account.name = name
    account.username = username
    account.linked_page_id = linked_page_id
    account.access_token_enc = token_encrypt(tokens.access_token)
    account.refresh_token_enc = token_encrypt(tokens.refresh_token)
    account.token_expires_at = tokens.expires_at
    account.token_checked_at = timezone.now()
    account.status = AccountStatus.CONNECTED
    account.status_reason = ""
    account.connected_by = actor.user
    account.connected_at = timezone.now()
    account.save()
    actor.audit(
        action="social_account.connected" if created else "social_account.reconnected",
        object_type="social_account",
        object_id=str(account.id),
        details={"network": network, "name": name},  # never the tokens
    )
    return account


@transaction.atomic
def account_disconnect(*, actor: Actor, account: SocialAccount) -> SocialAccount:
    """Forget the tokens; scheduled posts for the account fail when due, saying why."""
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can disconnect social accounts.")
    account.status = AccountStatus.DISCONNECTED
    account.status_reason = "Disconnected by staff."
    account.access_token_enc = ""
    account.refresh_token_enc = ""
    account.save(
        update_fields=[
            "status",
            "status_reason",
            "access_token_enc",
            "refresh_token_enc",
            "updated_at",
        ]
    )
    actor.audit(
        action="social_account.disconnected",
        object_type="social_account",
        object_id=str(account.id),
        details={"network": account.network, "name": account.name},
    )
    return account


@transaction.atomic
def account_mark_needs_reconnect(*, account_id: Any, reason: str) -> None:
    updated = SocialAccount.objects.filter(id=account_id, status=AccountStatus.CONNECTED).update(
        status=AccountStatus.NEEDS_RECONNECT, status_reason=reason, updated_at=timezone.now()
    )
    if updated:
        SYSTEM.audit(
            action="social_account.needs_reconnect",
            object_type="social_account",
            object_id=str(account_id),
            details={"reason": reason},
        )


@transaction.atomic
def account_set_queue_times(*, actor: Actor, account: SocialAccount, times: list[str]) -> None:
    cleaned = sorted({_parse_hhmm(value).strftime("%H:%M") for value in times})
    if not cleaned:
        raise ValidationError({"queueTimes": "Give at least one time of day (HH:MM)."})
    account.queue_times = cleaned
    account.save(update_fields=["queue_times", "updated_at"])
    actor.audit(
        action="social_account.queue_changed", object_type="social_account",
        object_id=str(account.id), details={"queueTimes": cleaned},
    )  # fmt: skip


def _parse_hhmm(value: str) -> time:
    try:
        return datetime.strptime(value.strip(), "%H:%M").time()
    except (ValueError, AttributeError):
        raise ValidationError({"queueTimes": f"'{value}' is not a time of day (HH:MM)."}) from None


@transaction.atomic
def settings_update(*, actor: Actor, approval_required: bool) -> SocialSettings:
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can change the social settings.")
    row, _ = SocialSettings.objects.select_for_update().get_or_create(id=1)
    row.approval_required = approval_required
    row.save()
    actor.audit(
        action="social_settings.changed",
        object_type="social_settings",
        object_id="1",
        details={"approvalRequired": approval_required},
    )
    return row


# --- Images ----------------------------------------------------------------------------------


@transaction.atomic
def image_upload(*, actor: Actor, filename: str, content: bytes) -> PostImage:
    """Store an image after checking what it really is (its first bytes, not its name)."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            {"file": f"The image is {len(content) / 1048576:.1f} MB; the limit is 10 MB."}
        )
    content_type = sniff_image_type(content)
    if content_type is None:
        raise ValidationError({"file": "Not a JPEG, PNG, GIF or WebP image."})
    image = PostImage.objects.create(
        filename=(filename or "image")[-200:],
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        uploaded_by=actor.user,
    )
    actor.audit(
        action="social_image.uploaded", object_type="social_image", object_id=str(image.id),
        details={"filename": image.filename, "size": image.size},
    )  # fmt: skip
    return image


def image_public_url(*, image_id: Any) -> str:
    """The signed, expiring URL a network fetches the image from. The signature is bound to
    this club's schema, so it opens nothing in another club."""
    from django.conf import settings

    token = signing.dumps(str(image_id), salt=f"social.media:{_schema()}", compress=False)
    tenant = tenant_current()
    return f"{settings.SOCIAL_PUBLIC_BASE_URL}/t/{tenant.id}/api/v1/social/media/{token}"


def image_id_from_token(*, token: str) -> str | None:
    try:
        return signing.loads(
            token,
            salt=f"social.media:{_schema()}",
            max_age=MEDIA_URL_MAX_AGE.total_seconds(),
        )
    except signing.BadSignature:
        return None


# --- Posts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantInput:
    """One network's part of a post: an account, or only a network while none is connected
    (a draft; scheduling attaches the network's connected account)."""

    account_id: Any = None
    text: str = ""
    link: str = ""
    image_ids: list[Any] = field(default_factory=list)
    network: str = ""


def _connected_accounts(networks: set[str]) -> dict[str, list[SocialAccount]]:
    found: dict[str, list[SocialAccount]] = {network: [] for network in networks}
    for account in SocialAccount.objects.filter(
        network__in=networks, status=AccountStatus.CONNECTED
    ).order_by("name"):
        found[account.network].append(account)
    return found


def _variants_from(inputs: list[VariantInput]) -> list[PostVariant]:
    """Build (unsaved) variants, checking what any draft must satisfy: a known account or
    network, one per network, known images. No connected account is needed for a draft."""
    if not inputs:
        raise ValidationError({"variants": "Choose at least one network to post to."})
    accounts = SocialAccount.objects.in_bulk(
        [a for a in (_uuid_or_none(v.account_id) for v in inputs if v.account_id) if a]
    )
    connected = _connected_accounts({v.network for v in inputs if v.network in Network.values})
    known_images = set(
        PostImage.objects.filter(
            id__in=[i for i in (_uuid_or_none(i) for v in inputs for i in v.image_ids) if i]
        ).values_list("id", flat=True)
    )
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    variants = []
    for index, value in enumerate(inputs):
        key = f"variants[{index}]"
        network = (value.network or "").strip().lower()
        account = None
        if value.account_id not in (None, ""):
            account = accounts.get(_uuid_or_none(value.account_id))
            if account is None:
                errors.setdefault(f"{key}.accountId", []).append("No such social account.")
                continue
            if network and network != account.network:
                errors.setdefault(f"{key}.network", []).append(
                    f"The account {account.name} is on {RULES[account.network].label}, "
                    f"not {network}."
                )
                continue
            network = account.network
        elif network not in Network.values:
            errors.setdefault(f"{key}.network", []).append(
                f"Give an accountId or a network ({', '.join(Network.values)})."
                if not network
                else f"Unknown network '{network}'; use one of {', '.join(Network.values)}."
            )
            continue
        elif len(connected.get(network, [])) == 1:
            account = connected[network][0]
        if network in seen:
            errors.setdefault(f"{key}.network", []).append(
                f"{RULES[network].label}: only one account per network in a post."
            )
        seen.add(network)
        missing = [str(i) for i in value.image_ids if _uuid_or_none(i) not in known_images]
        if missing:
            errors.setdefault(f"{key}.imageIds", []).append(
                f"Unknown image(s): {', '.join(missing)}."
            )
        variants.append(
            PostVariant(
                account=account,
                network=network,
                text=(value.text or "").strip(),
                link=(value.link or "").strip(),
                image_ids=[_uuid_or_none(i) for i in value.image_ids],
            )
        )
    if errors:
        raise ValidationError(errors)
    return variants


def _uuid_or_none(value: Any):
    import uuid

    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


@transaction.atomic
def post_create(
    *,
    actor: Actor,
    title: str = "",
    variants: list[VariantInput],
    origin: str = "staff",
    origin_key: str = "",
    planned_at: datetime | None = None,
) -> Post:
    """A draft post with one variant per chosen account or network, optionally planned for a
    time (the club's time zone when naive; shown on the calendar, published by nothing until
    scheduled). With `origin_key`, creating the same post twice returns the first
    (machine-made posts)."""
    if origin_key:
        existing = Post.objects.filter(origin_key=origin_key).first()
        if existing is not None:
            return existing
    built = _variants_from(variants)
    if planned_at is not None:
        planned_at = _local_to_utc(planned_at, ZoneInfo(tenant_current().timezone))
        for variant in built:
            variant.scheduled_at = planned_at
    post = Post.objects.create(
        title=title.strip()[:200],
        created_by=actor.user,
        created_by_label=actor.label or (actor.user.email if actor.user else ""),
        origin=origin,
        origin_key=origin_key,
    )
    for variant in built:
        variant.post = post
    PostVariant.objects.bulk_create(built)
    actor.audit(
        action="social_post.created", object_type="social_post", object_id=str(post.id),
        details={"networks": [v.network for v in built]},
    )  # fmt: skip
    return post


@transaction.atomic
def post_update(
    *, actor: Actor, post: Post, title: str | None = None, variants: list[VariantInput] | None
) -> Post:
    """Change a post. Its title (for staff only) can always change; its variants only before
    it starts going out, and replacing them takes it back to DRAFT (it must be scheduled, and
    approved, again)."""
    post = Post.objects.select_for_update().get(id=post.id)
    locked = list(post.variants.select_for_update())
    if variants is not None and any(
        v.status not in (*EDITABLE_STATUSES, VariantStatus.CANCELLED) for v in locked
    ):
        raise ValidationError("This post has started going out; it can no longer be changed.")
    if title is not None:
        post.title = title.strip()[:200]
    if variants is not None:
        built = _variants_from(variants)
        planned = min((v.scheduled_at for v in locked if v.scheduled_at), default=None)
        for variant in built:
            variant.scheduled_at = planned  # a draft keeps its place on the calendar
        post.variants.all().delete()
        for variant in built:
            variant.post = post
        PostVariant.objects.bulk_create(built)
        post.approval_status = ApprovalStatus.NOT_NEEDED
        post.approved_by = None
        post.approved_at = None
    post.save()
    actor.audit(action="social_post.updated", object_type="social_post", object_id=str(post.id))
    return post


def no_account_message(network: str) -> str:
    label = RULES[network].label
    return (
        f"{label}: no {label} account is connected, so this post can be saved, planned and "
        f"approved as a draft but not scheduled or published. A club ADMIN connects one under "
        f"Social accounts > Connect {Network(network).label}."
    )


def _attach_accounts(variants: list[PostVariant]) -> dict[str, list[str]]:
    """Give each account-less variant its network's connected account; errors where there
    is none, or more than one to choose from."""
    missing = [v for v in variants if v.account_id is None]
    if not missing:
        return {}
    connected = _connected_accounts({v.network for v in missing})
    errors: dict[str, list[str]] = {}
    for variant in missing:
        choices = connected[variant.network]
        if len(choices) == 1:
            variant.account = choices[0]
            variant.save(update_fields=["account", "updated_at"])
        elif choices:
            errors.setdefault(f"variants.{variant.network}.accountId", []).append(
                f"{RULES[variant.network].label}: {len(choices)} accounts are connected; "
                "edit the post and choose one."
            )
    return errors


def _content_errors(variants: list[PostVariant]) -> dict[str, list[str]]:
    images = {
        image.id: ImageInfo(str(image.id), image.filename, image.content_type, image.size)
        for image in PostImage.objects.filter(
            id__in=[i for v in variants for i in v.image_ids]
        ).only("id", "filename", "content_type", "size")
    }
    errors: dict[str, list[str]] = {}
    for variant in variants:
        found = variant_errors(
            network=variant.network,
            text=variant.text,
            link=variant.link,
            images=[images[i] for i in variant.image_ids if i in images],
        )
        for name, messages in found.items():
            errors.setdefault(f"variants.{variant.network}.{name}", []).extend(messages)
    return errors


def post_validate(*, post: Post) -> dict[str, list[str]]:
    """Every network's complaints about this post, keyed `variants.<network>.text` etc.,
    including a missing or disconnected account (what scheduling needs)."""
    variants = list(post.variants.select_related("account").order_by("network"))
    errors = _content_errors(variants)
    for variant in variants:
        if variant.account is None:
            errors.setdefault(f"variants.{variant.network}.accountId", []).append(
                no_account_message(variant.network)
            )
        elif variant.account.status != AccountStatus.CONNECTED:
            errors.setdefault(f"variants.{variant.network}.accountId", []).append(
                f"{RULES[variant.network].label}: the account {variant.account.name} "
                f"{variant.account.get_status_display().lower()}."
            )
    return errors


def _local_to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """A naive time is read in the club's time zone; an aware one is taken as given."""
    if timezone.is_naive(value):
        return value.replace(tzinfo=tz)
    return value


def queue_next_slot(*, account: SocialAccount, after: datetime, taken: set[datetime]) -> datetime:
    """The first of the account's daily queue times, in the club's time zone, after `after`
    and not already used by another post of this account."""
    tz = ZoneInfo(tenant_current().timezone)
    times = sorted(_parse_hhmm(t) for t in account.queue_times) or [time(9)]
    day: date = after.astimezone(tz).date()
    for _ in range(QUEUE_HORIZON_DAYS):
        for slot_time in times:
            # fold=0 and a normalising round trip: a slot in a DST gap moves to a real time.
            slot = datetime.combine(day, slot_time, tzinfo=tz).astimezone(ZoneInfo("UTC"))
            if slot > after and slot not in taken:
                return slot
        day += timedelta(days=1)
    raise ValidationError(
        {"schedule": f"{account.name}: no free queue slot in the next {QUEUE_HORIZON_DAYS} days."}
    )


def _taken_slots(account_ids: list[Any], after: datetime) -> dict[Any, set[datetime]]:
    taken: dict[Any, set[datetime]] = {account_id: set() for account_id in account_ids}
    rows = PostVariant.objects.filter(
        account_id__in=account_ids,
        scheduled_at__gt=after,
        status__in=[
            VariantStatus.PENDING_APPROVAL,
            VariantStatus.SCHEDULED,
            VariantStatus.PUBLISHING,
            VariantStatus.PUBLISHED,
        ],
    ).values_list("account_id", "scheduled_at")
    for account_id, scheduled_at in rows:
        taken[account_id].add(scheduled_at)
    return taken


def _approval_needed(actor: Actor, post: Post | None = None) -> bool:
    """With approval on, a non-ADMIN's post waits for an ADMIN, unless an ADMIN already
    approved it as a draft (and it has not changed since: a change resets the approval)."""
    if actor.is_admin or (post is not None and post.approval_status == ApprovalStatus.APPROVED):
        return False
    row = SocialSettings.objects.filter(id=1).only("approval_required").first()
    return bool(row and row.approval_required)


@transaction.atomic
def post_schedule(*, actor: Actor, post: Post, mode: str, at: datetime | None = None) -> Post:
    """Validate against every network, then schedule: now, at a time (the club's time zone
    when no offset is given) or into each account's next free queue slot. With approval on,
    a non-ADMIN's post waits for an ADMIN instead (its times are kept)."""
    post = Post.objects.select_for_update().get(id=post.id)
    variants = list(
        post.variants.select_for_update(of=("self",)).select_related("account").order_by("network")
    )
    if any(v.status not in (VariantStatus.DRAFT, VariantStatus.FAILED) for v in variants):
        raise ValidationError("Only a draft (or a failed post) can be scheduled.")
    if mode not in ScheduleMode.values:
        raise ValidationError({"mode": f"Use one of {', '.join(ScheduleMode.values)}."})
    if mode == ScheduleMode.AT and at is None:
        # A draft planned on the calendar is scheduled for its planned time.
        at = next((v.scheduled_at for v in variants if v.scheduled_at), None)
    errors = _attach_accounts(variants)
    if errors:
        raise ValidationError(errors)
    errors = post_validate(post=post)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    tz = ZoneInfo(tenant_current().timezone)
    if mode == ScheduleMode.AT:
        if at is None:
            raise ValidationError({"at": "Give the time to publish at."})
        at = _local_to_utc(at, tz)
        if at < now - timedelta(minutes=1):
            raise ValidationError({"at": "That time has passed."})
    taken = _taken_slots([v.account_id for v in variants], now)
    waiting = _approval_needed(actor, post)
    for variant in variants:
        if mode == ScheduleMode.NOW:
            variant.scheduled_at = now
        elif mode == ScheduleMode.AT:
            variant.scheduled_at = at
        else:
            account = variant.account
            assert account is not None  # post_validate refused any variant without one
            variant.scheduled_at = queue_next_slot(
                account=account, after=now, taken=taken[variant.account_id]
            )
        variant.schedule_mode = mode
        variant.status = VariantStatus.PENDING_APPROVAL if waiting else VariantStatus.SCHEDULED
        variant.error = ""
        variant.next_attempt_at = None
        variant.attempt_count = 0
    PostVariant.objects.bulk_update(
        variants,
        ["scheduled_at", "schedule_mode", "status", "error", "next_attempt_at", "attempt_count"],
    )
    if waiting:
        post.approval_status = ApprovalStatus.PENDING
    elif post.approval_status != ApprovalStatus.APPROVED:
        post.approval_status = ApprovalStatus.NOT_NEEDED
    post.save(update_fields=["approval_status", "updated_at"])
    actor.audit(
        action="social_post.submitted" if waiting else "social_post.scheduled",
        object_type="social_post", object_id=str(post.id),
        details={"mode": mode, "at": {v.network: v.scheduled_at.isoformat() for v in variants}},
    )  # fmt: skip
    if not waiting:
        _enqueue_due(variants, now)
    return post


def _enqueue_due(variants: list[PostVariant], now: datetime) -> None:
    """Due variants go to a worker once the transaction has committed; later ones are
    picked up by the every-minute sweep (no long ETAs in the broker, celery #4766)."""
    from social.tasks import publish_variant

    schema = _schema()
    for variant in variants:
        if variant.scheduled_at and variant.scheduled_at <= now:
            variant_id = str(variant.id)
            transaction.on_commit(
                lambda variant_id=variant_id: _send(publish_variant, schema, variant_id)
            )


def _send(task, schema: str, variant_id: str) -> None:
    from django_tenants.utils import schema_context

    with schema_context(schema):  # stamps the message with the club (tenant-schemas-celery)
        task.delay(variant_id)


@transaction.atomic
def post_approve(*, actor: Actor, post: Post) -> Post:
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can approve posts.")
    post = Post.objects.select_for_update().get(id=post.id)
    variants = list(post.variants.select_for_update().filter(status=VariantStatus.PENDING_APPROVAL))
    if not variants and post.approval_status == ApprovalStatus.PENDING:
        return _approve_draft(actor, post)
    if not variants:
        raise ValidationError("This post is not waiting for approval.")
    now = timezone.now()
    for variant in variants:
        variant.status = VariantStatus.SCHEDULED
        if variant.scheduled_at is None or variant.scheduled_at < now:
            variant.scheduled_at = now  # approved late: goes out at once
    PostVariant.objects.bulk_update(variants, ["status", "scheduled_at"])
    post.approval_status = ApprovalStatus.APPROVED
    post.approved_by = actor.user
    post.approved_at = now
    post.save(update_fields=["approval_status", "approved_by", "approved_at", "updated_at"])
    actor.audit(action="social_post.approved", object_type="social_post", object_id=str(post.id))
    _enqueue_due(variants, now)
    return post


def _approve_draft(actor: Actor, post: Post) -> Post:
    """The content is approved; the draft stays a draft (no account needed) and later goes
    out when someone schedules it, without waiting again."""
    post.approval_status = ApprovalStatus.APPROVED
    post.approved_by = actor.user
    post.approved_at = timezone.now()
    post.approval_note = ""
    post.save(
        update_fields=[
            "approval_status", "approved_by", "approved_at", "approval_note", "updated_at",
        ]
    )  # fmt: skip
    actor.audit(
        action="social_post.approved", object_type="social_post", object_id=str(post.id),
        details={"draft": True},
    )  # fmt: skip
    return post


@transaction.atomic
def post_request_approval(*, actor: Actor, post: Post) -> Post:
    """Send a draft for an ADMIN's approval before it is scheduled; no account is needed.
    Each network's content rules are checked first."""
    post = Post.objects.select_for_update().get(id=post.id)
    variants = list(post.variants.select_for_update().order_by("network"))
    if any(v.status != VariantStatus.DRAFT for v in variants):
        raise ValidationError("Only a draft can be sent for approval; this post is scheduled.")
    if post.approval_status == ApprovalStatus.PENDING:
        raise ValidationError("This post is already waiting for approval.")
    if post.approval_status == ApprovalStatus.APPROVED:
        raise ValidationError("This post is already approved.")
    errors = _content_errors(variants)
    if errors:
        raise ValidationError(errors)
    post.approval_status = ApprovalStatus.PENDING
    post.approval_note = ""
    post.save(update_fields=["approval_status", "approval_note", "updated_at"])
    actor.audit(
        action="social_post.approval_requested", object_type="social_post",
        object_id=str(post.id),
    )  # fmt: skip
    return post


@transaction.atomic
def post_reject(*, actor: Actor, post: Post, note: str = "") -> Post:
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can reject posts.")
    post = Post.objects.select_for_update().get(id=post.id)
    updated = post.variants.filter(status=VariantStatus.PENDING_APPROVAL).update(
        status=VariantStatus.DRAFT, scheduled_at=None, error=f"Rejected: {note}".strip(": ")
    )
    if not updated and post.approval_status == ApprovalStatus.PENDING:
        updated = post.variants.filter(status=VariantStatus.DRAFT).update(
            error=f"Rejected: {note}".strip(": ")
        )
    if not updated:
        raise ValidationError("This post is not waiting for approval.")
    post.approval_status = ApprovalStatus.REJECTED
    post.approval_note = note
    post.save(update_fields=["approval_status", "approval_note", "updated_at"])
    actor.audit(
        action="social_post.rejected", object_type="social_post", object_id=str(post.id),
        details={"note": note},
    )  # fmt: skip
    return post


@transaction.atomic
def post_cancel(*, actor: Actor, post: Post) -> int:
    """Cancel what has not started going out; returns how many variants were cancelled."""
    cancelled = post.variants.filter(status__in=EDITABLE_STATUSES).update(
        status=VariantStatus.CANCELLED, next_attempt_at=None
    )
    actor.audit(
        action="social_post.cancelled", object_type="social_post", object_id=str(post.id),
        details={"variants": cancelled},
    )  # fmt: skip
    return cancelled


@transaction.atomic
def variant_resolve_review(
    *, actor: Actor, variant: PostVariant, posted: bool, remote_url: str = ""
) -> PostVariant:
    """Staff settle a NEEDS_REVIEW variant: it *was* posted (keep the address they found), or
    it was not (back to SCHEDULED, to go out now)."""
    variant = PostVariant.objects.select_for_update().get(id=variant.id)
    if variant.status != VariantStatus.NEEDS_REVIEW:
        raise ValidationError("This post does not need a review.")
    now = timezone.now()
    if posted:
        variant.status = VariantStatus.PUBLISHED
        variant.remote_url = remote_url
        variant.published_at = now
        variant.metrics_due_at = None
    else:
        variant.status = VariantStatus.SCHEDULED
        variant.scheduled_at = now
        variant.next_attempt_at = None
        # Closes the open attempt, so the next run posts instead of looking up again.
        variant.attempts.filter(state__in=["STARTED", "IN_DOUBT", "SERVER_ERROR"]).update(
            state="FAILED", finished_at=now, error="Not posted (confirmed by staff)."
        )
    variant.error = ""
    variant.save()
    actor.audit(
        action="social_variant.reviewed", object_type="social_variant", object_id=str(variant.id),
        details={"posted": posted},
    )  # fmt: skip
    if not posted:
        _enqueue_due([variant], now)
    return variant


MOVABLE_STATUSES = (VariantStatus.DRAFT, VariantStatus.PENDING_APPROVAL, VariantStatus.SCHEDULED)


def _daily_limit_errors(variants: list[PostVariant], at: datetime) -> dict[str, list[str]]:
    """A move may not put more than the network's daily limit of this account's posts into
    any 24 hours around the new time (the limit publishing itself enforces)."""
    from django.conf import settings

    errors: dict[str, list[str]] = {}
    for variant in variants:
        limit = settings.SOCIAL_DAILY_LIMITS.get(variant.network)
        if not limit or variant.account_id is None:
            continue
        others = PostVariant.objects.filter(account_id=variant.account_id).exclude(id=variant.id)
        planned = VariantStatus.SCHEDULED, VariantStatus.PENDING_APPROVAL, VariantStatus.PUBLISHING
        before = others.filter(
            status__in=planned, scheduled_at__gt=at - timedelta(days=1), scheduled_at__lte=at
        ).count() + others.filter(
            status=VariantStatus.PUBLISHED, published_at__gt=at - timedelta(days=1),
            published_at__lte=at,
        ).count()  # fmt: skip
        after = others.filter(
            status__in=planned, scheduled_at__gte=at, scheduled_at__lt=at + timedelta(days=1)
        ).count()
        if max(before, after) >= limit:
            account = variant.account
            assert account is not None  # account_id was checked above
            label = RULES[variant.network].label
            errors.setdefault(f"variants.{variant.network}.at", []).append(
                f"{label}: {account.name} already has {limit} "
                f"post{'s' if limit != 1 else ''} within 24 hours of that time, the most "
                f"{label} allows."
            )
    return errors


@transaction.atomic
def post_reschedule(
    *, actor: Actor, post: Post, at: datetime | None, networks: list[str] | None = None
) -> Post:
    """Move a post that has not gone out to another time (the calendar's drag; naive times
    are the club's). A draft just moves its planned time. A scheduled post must still have a
    connected account and stay within the network's daily limit; moved by a non-ADMIN while
    approval is on, it waits for an ADMIN's approval again. `networks` moves only those
    networks' parts."""
    post = Post.objects.select_for_update().get(id=post.id)
    variants = list(
        post.variants.select_for_update(of=("self",)).select_related("account").order_by("network")
    )
    if networks:
        unknown = sorted(set(networks) - {v.network for v in variants})
        if unknown:
            raise ValidationError({"networks": f"This post has no part for {', '.join(unknown)}."})
        variants = [v for v in variants if v.network in networks]
    stuck = [v for v in variants if v.status not in MOVABLE_STATUSES]
    if stuck:
        raise ValidationError(
            {
                "at": " ".join(
                    f"{RULES[v.network].label}: {v.get_status_display().lower()}, so it can no "
                    "longer be moved."
                    for v in stuck
                )
            }
        )
    if at is None:
        raise ValidationError({"at": "Give the new time."})
    at = _local_to_utc(at, ZoneInfo(tenant_current().timezone))
    now = timezone.now()
    if at < now - timedelta(minutes=1):
        raise ValidationError({"at": "That time has passed; choose a time from now on."})
    live = [v for v in variants if v.status != VariantStatus.DRAFT]
    if live:
        errors = {k: m for k, m in post_validate(post=post).items() if k.endswith(".accountId")}
        errors = {k: m for k, m in errors.items() if k.split(".")[1] in {v.network for v in live}}
        errors.update(_daily_limit_errors(live, at))
        if errors:
            raise ValidationError(errors)
    rewait = bool(live) and not actor.is_admin and _approval_needed(actor)
    for variant in variants:
        variant.scheduled_at = at
        if variant.status != VariantStatus.DRAFT:
            variant.schedule_mode = ScheduleMode.AT
            variant.next_attempt_at = None
            if rewait:
                variant.status = VariantStatus.PENDING_APPROVAL
    PostVariant.objects.bulk_update(
        variants, ["scheduled_at", "schedule_mode", "next_attempt_at", "status"]
    )
    if rewait:
        post.approval_status = ApprovalStatus.PENDING
        post.save(update_fields=["approval_status", "updated_at"])
    actor.audit(
        action="social_post.rescheduled", object_type="social_post", object_id=str(post.id),
        details={"at": at.isoformat(), "networks": [v.network for v in variants],
                 "waitsForApproval": rewait},
    )  # fmt: skip
    if not rewait:
        _enqueue_due([v for v in variants if v.status == VariantStatus.SCHEDULED], now)
    return post
