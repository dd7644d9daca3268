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
    account_id: Any
    text: str = ""
    link: str = ""
    image_ids: list[Any] = field(default_factory=list)


def _variants_from(inputs: list[VariantInput]) -> list[PostVariant]:
    """Build (unsaved) variants, checking what any draft must satisfy: known, connected
    accounts, one per network, known images."""
    if not inputs:
        raise ValidationError({"variants": "Choose at least one account to post to."})
    accounts = SocialAccount.objects.in_bulk([value.account_id for value in inputs])
    known_images = set(
        PostImage.objects.filter(
            id__in=[image for value in inputs for image in value.image_ids]
        ).values_list("id", flat=True)
    )
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    variants = []
    for index, value in enumerate(inputs):
        key = f"variants[{index}]"
        account = accounts.get(_uuid_or_none(value.account_id))
        if account is None:
            errors.setdefault(f"{key}.accountId", []).append("No such social account.")
            continue
        if account.network in seen:
            errors.setdefault(f"{key}.accountId", []).append(
                f"{RULES[account.network].label}: only one account per network in a post."
            )
        seen.add(account.network)
        missing = [str(i) for i in value.image_ids if _uuid_or_none(i) not in known_images]
        if missing:
            errors.setdefault(f"{key}.imageIds", []).append(
                f"Unknown image(s): {', '.join(missing)}."
            )
        variants.append(
            PostVariant(
                account=account,
                network=account.network,
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
) -> Post:
    """A draft post with one variant per chosen account. With `origin_key`, creating the same
    post twice returns the first (machine-made posts)."""
    if origin_key:
        existing = Post.objects.filter(origin_key=origin_key).first()
        if existing is not None:
            return existing
    built = _variants_from(variants)
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
    """Change a post that has not started going out. Replaces its variants (and so takes it
    back to DRAFT: it must be scheduled, and approved, again)."""
    post = Post.objects.select_for_update().get(id=post.id)
    locked = list(post.variants.select_for_update())
    if any(v.status not in (*EDITABLE_STATUSES, VariantStatus.CANCELLED) for v in locked):
        raise ValidationError("This post has started going out; it can no longer be changed.")
    if title is not None:
        post.title = title.strip()[:200]
    if variants is not None:
        built = _variants_from(variants)
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


def post_validate(*, post: Post) -> dict[str, list[str]]:
    """Every network's complaints about this post, keyed `variants[i].text` etc."""
    variants = list(post.variants.select_related("account").order_by("network"))
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
        if variant.account.status != AccountStatus.CONNECTED:
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


def _approval_needed(actor: Actor) -> bool:
    if actor.is_admin:
        return False
    row = SocialSettings.objects.filter(id=1).only("approval_required").first()
    return bool(row and row.approval_required)


@transaction.atomic
def post_schedule(*, actor: Actor, post: Post, mode: str, at: datetime | None = None) -> Post:
    """Validate against every network, then schedule: now, at a time (the club's time zone
    when no offset is given) or into each account's next free queue slot. With approval on,
    a non-ADMIN's post waits for an ADMIN instead (its times are kept)."""
    post = Post.objects.select_for_update().get(id=post.id)
    variants = list(post.variants.select_for_update().select_related("account").order_by("network"))
    if any(v.status not in (VariantStatus.DRAFT, VariantStatus.FAILED) for v in variants):
        raise ValidationError("Only a draft (or a failed post) can be scheduled.")
    if mode not in ScheduleMode.values:
        raise ValidationError({"mode": f"Use one of {', '.join(ScheduleMode.values)}."})
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
    waiting = _approval_needed(actor)
    for variant in variants:
        if mode == ScheduleMode.NOW:
            variant.scheduled_at = now
        elif mode == ScheduleMode.AT:
            variant.scheduled_at = at
        else:
            variant.scheduled_at = queue_next_slot(
                account=variant.account, after=now, taken=taken[variant.account_id]
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
    post.approval_status = ApprovalStatus.PENDING if waiting else ApprovalStatus.NOT_NEEDED
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


@transaction.atomic
def post_reject(*, actor: Actor, post: Post, note: str = "") -> Post:
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can reject posts.")
    post = Post.objects.select_for_update().get(id=post.id)
    updated = post.variants.filter(status=VariantStatus.PENDING_APPROVAL).update(
        status=VariantStatus.DRAFT, scheduled_at=None, error=f"Rejected: {note}".strip(": ")
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
