"""What social holds about a person, for erasure and export (profiles.erasure).

Competition entries and scores are kept by TeeTime player id (their eraser is
social.promotion_services.promotion_customer_erase). A person is also *mentioned*: a results
post names the winner. An erasure takes their name out of every text the club holds (posts and
plan items, sent or not; an unsent one is re-rendered by the plan's next sync, from scores that
no longer include them). A post already published on a network is that network's copy: the
club deletes it there (README, "Privacy")."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Func, Value

from profiles.models import Customer, RecordKind
from social.models import (
    CompetitionEntry,
    CompetitionPromotion,
    CompetitionScore,
    PostVariant,
    PromotionItem,
)

REDACTED = "(name removed)"


def _full_name(customer: Customer) -> str:
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p).strip()
    # A lone first name ("Sean") is no one in particular: only a full name is a mention.
    return name if customer.first_name and customer.last_name and len(name) >= 5 else ""


def _replace(field: str, name: str) -> Func:
    return Func(F(field), Value(name), Value(REDACTED), function="replace")


def social_mentions_erase(customer: Customer, identifiers: dict[str, set[str]]) -> None:
    name = _full_name(customer)
    if not name:
        return
    PostVariant.objects.filter(text__contains=name).update(text=_replace("text", name))
    items = PromotionItem.objects.filter(text__contains=name)
    CompetitionPromotion.objects.filter(items__in=items).update(needs_sync=True)
    items.update(text=_replace("text", name))
    PromotionItem.objects.filter(subject__contains=name).update(subject=_replace("subject", name))


def social_customer_export(customer: Customer, identifiers: dict[str, set[str]]) -> dict[str, Any]:
    players = set(identifiers.get(RecordKind.TEETIME_PLAYER, set()))
    name = _full_name(customer)
    return {
        "competitionEntries": [
            {"competitionId": e.competition_id, "playerId": e.player_id, "entered": e.entered,
             "changedAt": e.changed_at.isoformat()}
            for e in CompetitionEntry.objects.filter(player_id__in=players)
        ],
        "competitionScores": [
            {"competitionId": s.competition_id, "playerId": s.player_id, "gross": s.gross,
             "net": None if s.net is None else str(s.net), "position": s.position,
             "postedAt": s.posted_at.isoformat()}
            for s in CompetitionScore.objects.filter(player_id__in=players)
        ],
        "mentions": [
            {"postId": str(v.post_id), "network": v.network, "text": v.text,
             "status": v.status,
             "publishedAt": v.published_at.isoformat() if v.published_at else None}
            for v in (PostVariant.objects.filter(text__contains=name) if name else [])
        ] + [
            {"promotionItemId": str(i.id), "channel": i.channel, "subject": i.subject,
             "text": i.text, "status": i.status}
            for i in (PromotionItem.objects.filter(text__contains=name) if name else [])
        ],
    }  # fmt: skip


EXPORT_MODELS = (CompetitionEntry, CompetitionScore, PostVariant, PromotionItem)
