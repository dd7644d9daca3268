"""The typed inputs of the campaign mutations (issue 19): REST's campaign body (segments.md,
`CampaignInputSerializer`) as GraphQL input types, so the schema refuses an unknown field or
a wrong type and GraphiQL documents each one. Every field is optional: `createCampaign`
needs `name` (refused by name in `errors` without it), `updateCampaign` changes only the
fields given, and an explicit null clears a field that may be empty (`scheduledAt`, `endsAt`,
`expiresAt`, `conversionWindowDays`, a variant's `sendAt`); elsewhere null is refused by name,
as REST refuses it. The mutation reads the input back as REST's body
(`crm.graphql.inputs.input_body`) and runs REST's serializer and the campaign service on it.

`content`, `fallbacks` and a trigger's `filters` stay JSON (`GenericScalar`): their keys are
the message's own variables and the event's own fields, not a shape this API fixes."""

from __future__ import annotations

import enum

import graphene
from graphene.types.generic import GenericScalar

from campaigns.models import PUBLIC_TYPES, Channel, Priority, WinnerMetric
from campaigns.services import VARIANT_KEYS
from crm.graphql.inputs import choices_enum

CampaignChannel = choices_enum(
    "CampaignChannel",
    Channel,
    description="A channel a message goes out on.",
    own_labels={
        Channel.EMAIL: "Email (the club's templates, or the Messaging Service's)",
        Channel.SMS: "SMS: a text message to the customer's mobile",
        Channel.PUSH: "Push: a notification in the club's app",
    },
)

CampaignTypeEnum = choices_enum(
    "CampaignType",
    PUBLIC_TYPES,
    description="How a campaign is sent. It can change only while the campaign is a DRAFT.",
    notes={
        PUBLIC_TYPES[0]: "sent once, now (sendCampaign) or at `scheduledAt`",
        PUBLIC_TYPES[1]: "sent on its `recurrence` (cron, club time) until `endsAt`",
        PUBLIC_TYPES[2]: "sent to each customer when an event of `trigger.eventType` arrives",
    },
)

CampaignPriority = choices_enum(
    "CampaignPriority",
    Priority,
    by_name=True,
    description="For the frequency cap: a message counts the club's messages of its priority "
    "or higher, so newsletters never use up the room of a renewal reminder.",
)

CampaignWinnerMetric = choices_enum(
    "CampaignWinnerMetric",
    WinnerMetric,
    description="What decides an A/B test's winner.",
)

_ORDINAL = dict(zip(VARIANT_KEYS, ("first", "second", "third", "fourth"), strict=True))


def _variant_key(member: enum.Enum | None) -> str:
    if member is None:
        return "A variant's letter: A, B, C or D, each once in a campaign."
    return f"Variant {member.value} (what the {_ORDINAL[member.value]} variant is by default)."


CampaignVariantKey = graphene.Enum.from_enum(
    enum.Enum("CampaignVariantKey", [(key, key) for key in VARIANT_KEYS]),
    description=_variant_key,
)


_TEMPLATE_OF = {
    Channel.EMAIL: "The email template id (Campaigns > Email templates, or the Messaging "
    "Service's).",
    Channel.SMS: "The SMS template id (the Messaging Service's).",
    Channel.PUSH: "The push notification template id (the Messaging Service's).",
}


def _templates_input(name: str, description: str) -> type[graphene.InputObjectType]:
    """A template id per channel, one field per channel named as the channel (EMAIL, SMS,
    PUSH), as REST's `{"EMAIL": "newsletter"}`."""
    fields = {
        channel.value: graphene.String(name=channel.value, description=_TEMPLATE_OF[channel])
        for channel in Channel
    }
    return type(
        name,
        (graphene.InputObjectType,),
        {**fields, "Meta": type("Meta", (), {"description": description})},
    )


CampaignTemplatesInput = _templates_input(
    "CampaignTemplatesInput",
    "The message template of each channel the campaign sends on, by channel.",
)


class CampaignAudienceInput(graphene.InputObjectType):
    """Who receives the campaign: segments, evaluated when each run starts. Given, it replaces
    the audience; a part left out is empty."""

    include = graphene.List(
        graphene.NonNull(graphene.UUID),
        description="Ids of the segments sent to (a customer in any of them). Each must be "
        "a segment of this club.",
    )
    exclude = graphene.List(
        graphene.NonNull(graphene.UUID),
        description="Ids of the segments left out, even when also included.",
    )


class CampaignTriggerInput(graphene.InputObjectType):
    """What a TRIGGERED campaign listens for. Given, it replaces the trigger."""

    event_type = graphene.String(
        required=True,
        description="An event type of the club's event catalogue (events.md), such as "
        "teetime.booking.completed.",
    )
    filters = GenericScalar(
        description="A JSON object the event's envelope must match, such as "
        '{"payload": {"holes": 18}}; none: every event of the type.'
    )


class CampaignVariantInput(graphene.InputObjectType):
    """One variant of an A/B test: what it changes from the campaign, and its share."""

    key = CampaignVariantKey(description="Its letter; by default its place (A, B, …).")
    weight = graphene.Int(description="Its share against the others' weights, 1 to 100 (50).")
    content = GenericScalar(
        description="JSON overriding the campaign's `content` for this variant (a subject)."
    )
    templates = graphene.InputField(
        CampaignTemplatesInput, description="Templates overriding the campaign's, by channel."
    )
    send_at = graphene.DateTime(
        description="When this variant goes out (ISO 8601; without an offset: club time)."
    )


class CampaignInputType(graphene.InputObjectType):
    """A campaign's fields, as REST's campaign body (segments.md). Every field is optional:
    creating needs `name`; an update changes only the fields given, and null clears a field
    that may be empty."""

    class Meta:
        name = "CampaignInput"

    name = graphene.String(description="What staff call it, up to 200 characters. Required "
                           "when creating.")  # fmt: skip
    description = graphene.String(description="A note for staff; never sent.")
    type = CampaignTypeEnum(description="ONE_TIME unless given.")
    channels = graphene.List(
        graphene.NonNull(CampaignChannel), description="At least one; EMAIL unless given."
    )
    audience = graphene.InputField(
        CampaignAudienceInput, description="Segments sent to and left out."
    )
    templates = graphene.InputField(
        CampaignTemplatesInput, description="The template of each channel it sends on."
    )
    content = GenericScalar(
        description="JSON the templates fill in (a subject, a body, a competitionId): keys as "
        "the templates' variables."
    )
    fallbacks = GenericScalar(
        description="JSON: a value per customer variable used when a customer has none, such "
        'as {"firstName": "Golfer"}.'
    )
    priority = CampaignPriority(description="NORMAL unless given.")
    scheduled_at = graphene.DateTime(
        description="When a ONE_TIME campaign goes out once scheduled (ISO 8601; without an "
        "offset: club time). Null: not set."
    )
    recurrence = graphene.String(
        description="A RECURRING campaign's schedule: 5-field cron in club time (0 9 1 * *: "
        "9:00 on the 1st of each month). Empty: none."
    )
    ends_at = graphene.DateTime(
        description="When a RECURRING or TRIGGERED campaign stops (ISO 8601; without an "
        "offset: club time). Null: never."
    )
    expires_at = graphene.DateTime(
        description="After this, messages not yet handed over are not sent (EXPIRED). Null: never."
    )
    topic = graphene.String(
        description="competition:<id> for a message about a competition: a customer gets one "
        "message per topic within the frequency cap's window. Up to 120 characters."
    )
    trigger = graphene.InputField(
        CampaignTriggerInput, description="What a TRIGGERED campaign listens for."
    )
    variants = graphene.List(
        graphene.NonNull(CampaignVariantInput),
        description="Up to 4 A/B variants; given, they replace the campaign's. Empty: none.",
    )
    holdout_percent = graphene.Float(
        description="The share of the audience that receives nothing, to measure lift: 0 to 50."
    )
    test_pool_percent = graphene.Float(
        description="The share that gets the variants first; the winner goes to the rest "
        "(ONE_TIME, 2 or more variants): 0 to 100."
    )
    winner_metric = CampaignWinnerMetric(
        description="What picks the A/B winner for the rest of the audience (OPEN unless given)."
    )
    winner_after_hours = graphene.Int(
        description="Hours after the test pool's send when the winner is picked: 1 to 336."
    )
    conversion_window_days = graphene.Int(
        description="Days after a message in which a booking, entry or payment counts as its "
        "conversion: 1 to 90. Null: the club's sending settings."
    )
