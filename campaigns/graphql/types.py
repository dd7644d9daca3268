from __future__ import annotations

import graphene
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType

from campaigns.models import Campaign, Priority
from campaigns.selectors import campaign_stats


class CampaignVariantType(graphene.ObjectType):
    key = graphene.String(required=True)
    weight = graphene.Int(required=True)
    content = GenericScalar()
    templates = GenericScalar()
    send_at = graphene.DateTime()


class CampaignAudienceType(graphene.ObjectType):
    include = graphene.List(graphene.NonNull(graphene.UUID), required=True)
    exclude = graphene.List(graphene.NonNull(graphene.UUID), required=True)


class CampaignNode(DjangoObjectType):
    """A campaign (segments.md): what is sent, to whom, when, and how it went."""

    channels = graphene.List(graphene.NonNull(graphene.String), required=True)
    templates = GenericScalar()
    content = GenericScalar()
    fallbacks = GenericScalar()
    priority = graphene.String(required=True)
    audience = graphene.Field(CampaignAudienceType, required=True)
    variants = graphene.List(graphene.NonNull(CampaignVariantType), required=True)
    trigger_event_type = graphene.String()
    trigger_filters = GenericScalar()
    holdout_percent = graphene.Float(required=True)
    test_pool_percent = graphene.Float(required=True)
    winner = GenericScalar(description="The A/B decision: winner, rates, test, p-value.")
    stats = GenericScalar(
        required=True,
        description="Counts and rates per variant, the holdout and the lift (as REST's stats).",
    )
    review = GenericScalar(
        required=True,
        send_now=graphene.Boolean(default_value=False),
        description="What sending will really do (as REST's POST …/review): recipients, who is "
        "held back and why, when they receive it, the estimated finish. `sendNow`: as if sent "
        "now.",
    )
    results = GenericScalar(
        required=True,
        description="Per variant and channel, labelled: the funnel, bookings, entries and "
        "payments with the money they brought (as REST's GET …/results).",
    )
    expires_at = graphene.DateTime()
    topic = graphene.String(required=True)

    class Meta:
        model = Campaign
        name = "Campaign"
        fields = (
            "id", "name", "description", "type", "status", "scheduled_at", "recurrence",
            "ends_at", "winner_metric", "winner_after_hours", "conversion_window_days",
            "created_by", "created_at", "updated_at", "started_at", "completed_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_priority(root: Campaign, info) -> str:
        return Priority(root.priority).name

    @staticmethod
    def resolve_audience(root: Campaign, info) -> CampaignAudienceType:
        return CampaignAudienceType(
            include=[s.id for s in root.include_segments.all()],
            exclude=[s.id for s in root.exclude_segments.all()],
        )

    @staticmethod
    def resolve_variants(root: Campaign, info) -> list[CampaignVariantType]:
        return [
            CampaignVariantType(
                key=v.key, weight=v.weight, content=v.content, templates=v.templates,
                send_at=v.send_at,
            )
            for v in root.variants.all()
        ]  # fmt: skip

    @staticmethod
    def resolve_holdout_percent(root: Campaign, info) -> float:
        return float(root.holdout_percent)

    @staticmethod
    def resolve_test_pool_percent(root: Campaign, info) -> float:
        return float(root.test_pool_percent)

    @staticmethod
    def resolve_winner(root: Campaign, info):
        return root.winner_decision or None

    @staticmethod
    def resolve_stats(root: Campaign, info):
        return campaign_stats(campaign=root)

    @staticmethod
    def resolve_results(root: Campaign, info):
        from campaigns.results import campaign_results

        return campaign_results(campaign=root)

    @staticmethod
    def resolve_review(root: Campaign, info, send_now: bool = False):
        from campaigns.review import campaign_review

        return campaign_review(campaign=root, start_now=bool(send_now))
