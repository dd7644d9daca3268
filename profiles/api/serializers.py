"""Customer shapes of api.md: camelCase, as the other services write them."""

from __future__ import annotations

from rest_framework import serializers

from crm.api.serializers import InputSerializer
from profiles.models import Activity, ActivityCategory, Customer, CustomerNote, CustomerScore
from profiles.normalise import normalise_email, normalise_phone
from profiles.scoring_selectors import customer_scores, reason_texts
from profiles.selectors import CustomerFilters, customer_identities


class _CustomerListSerializer(serializers.ListSerializer):
    """Fetches the identities of a whole page in one query."""

    def to_representation(self, data):
        items = list(data)
        self.child.context["identities"] = customer_identities(customers=items)
        self.child.context["scores"] = customer_scores(customer_ids=[c.id for c in items])
        return super().to_representation(items)


class CustomerOutputSerializer(serializers.ModelSerializer):
    tenantId = serializers.SerializerMethodField()
    authUserId = serializers.CharField(source="auth_user_id", allow_null=True)
    phoneNumber = serializers.CharField(source="phone_number")
    sclMemberId = serializers.IntegerField(source="scl_member_id", allow_null=True)
    teetimePlayerId = serializers.CharField(source="teetime_player_id", allow_null=True)
    messagingContactId = serializers.CharField(source="messaging_contact_id", allow_null=True)
    identities = serializers.SerializerMethodField()
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    displayName = serializers.CharField(source="display_name")
    dateOfBirth = serializers.DateField(source="date_of_birth", allow_null=True)
    lifecycleStage = serializers.CharField(source="lifecycle_stage")
    membershipTier = serializers.CharField(source="membership_tier")
    membershipStatus = serializers.CharField(source="membership_status")
    memberSince = serializers.DateField(source="member_since", allow_null=True)
    renewalDueOn = serializers.DateField(source="renewal_due_on", allow_null=True)
    handicap = serializers.DecimalField(
        max_digits=4, decimal_places=1, coerce_to_string=False, allow_null=True
    )
    homeClubId = serializers.CharField(source="home_club_id")
    lifetimeValue = serializers.IntegerField(source="lifetime_value")
    lastActivityAt = serializers.DateTimeField(source="last_activity_at", allow_null=True)
    activityCount30d = serializers.IntegerField(source="activity_count_30d")
    bookingCount30d = serializers.IntegerField(source="booking_count_30d")
    emailOptIn = serializers.BooleanField(source="email_opt_in")
    smsOptIn = serializers.BooleanField(source="sms_opt_in")
    pushOptIn = serializers.BooleanField(source="push_opt_in")
    whatsappOptIn = serializers.BooleanField(source="whatsapp_opt_in")
    emailHardBounced = serializers.BooleanField(source="email_hard_bounced")
    complained = serializers.BooleanField()
    doNotContact = serializers.BooleanField(source="do_not_contact")
    mergedInto = serializers.UUIDField(source="merged_into_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    # Scores (profiles.CustomerScore, recomputed nightly and after events that matter): null,
    # [] and false until the customer is first scored.
    engagementScore = serializers.SerializerMethodField(help_text="0 to 100.")
    engagementBand = serializers.SerializerMethodField(
        help_text="EXCELLENT, GOOD, AVERAGE, LOW or AT_RISK."
    )
    churnRiskScore = serializers.SerializerMethodField(
        help_text="0 to 100; null for anyone who is not a current member."
    )
    churnRiskReasons = serializers.SerializerMethodField(
        help_text="The top reasons for the churn risk, in words, most important first."
    )
    payingNotPlaying = serializers.SerializerMethodField(
        help_text="An active, paid-up member playing well below their own seasonal baseline."
    )

    class Meta:
        model = Customer
        list_serializer_class = _CustomerListSerializer
        fields = [
            "id", "tenantId", "status", "authUserId", "email", "phoneNumber", "sclMemberId",
            "teetimePlayerId", "messagingContactId", "identities", "firstName", "lastName",
            "displayName", "dateOfBirth", "gender", "lifecycleStage", "tags", "membershipTier",
            "membershipStatus", "memberSince", "renewalDueOn", "handicap", "homeClubId",
            "lifetimeValue", "lastActivityAt", "activityCount30d", "bookingCount30d",
            "emailOptIn", "smsOptIn", "pushOptIn", "whatsappOptIn", "emailHardBounced",
            "complained", "doNotContact", "mergedInto", "createdAt", "updatedAt",
            "engagementScore", "engagementBand", "churnRiskScore", "churnRiskReasons",
            "payingNotPlaying",
        ]  # fmt: skip

    def get_tenantId(self, obj: Customer) -> str:
        return str(self.context["tenant"].id)

    def get_identities(self, obj: Customer) -> list[dict]:
        known = self.context.get("identities")
        if known is None or obj.id not in known:
            known = customer_identities(customers=[obj])
        return known[obj.id]

    def _score(self, obj: Customer) -> CustomerScore | None:
        known = self.context.setdefault("scores", {})
        if obj.id not in known:
            known.update(customer_scores(customer_ids=[obj.id]))
        return known[obj.id]

    def get_engagementScore(self, obj: Customer) -> int | None:
        score = self._score(obj)
        return score.engagement_score if score else None

    def get_engagementBand(self, obj: Customer) -> str | None:
        score = self._score(obj)
        return (score.engagement_band or None) if score else None

    def get_churnRiskScore(self, obj: Customer) -> int | None:
        score = self._score(obj)
        return score.churn_risk_score if score else None

    def get_churnRiskReasons(self, obj: Customer) -> list[str]:
        return reason_texts(self._score(obj))

    def get_payingNotPlaying(self, obj: Customer) -> bool:
        score = self._score(obj)
        return bool(score and score.paying_not_playing)


class CustomerFilterSerializer(serializers.Serializer):
    """The list filters of api.md. Bad values are refused by name rather than matching nothing."""

    email = serializers.EmailField(required=False)
    phoneNumber = serializers.CharField(required=False, max_length=40)
    sclMemberId = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    teetimePlayerId = serializers.CharField(required=False, max_length=128)
    messagingContactId = serializers.CharField(required=False, max_length=128)
    q = serializers.CharField(required=False, max_length=100, trim_whitespace=True)
    segment = serializers.UUIDField(required=False, help_text="Members of this segment.")

    def validate_email(self, value: str) -> str:
        return normalise_email(value)

    def validate_phoneNumber(self, value: str) -> str:
        e164 = normalise_phone(value, default_country=self.context["tenant"].country)
        if e164 is None:
            raise serializers.ValidationError("Not a phone number.")
        return e164

    def to_filters(self) -> CustomerFilters:
        data = self.validated_data
        filters: CustomerFilters = {}
        if "email" in data:
            filters["email"] = data["email"]
        if "phoneNumber" in data:
            filters["phone_number"] = data["phoneNumber"]
        if "sclMemberId" in data:
            filters["scl_member_id"] = data["sclMemberId"]
        if "teetimePlayerId" in data:
            filters["teetime_player_id"] = data["teetimePlayerId"]
        if "messagingContactId" in data:
            filters["messaging_contact_id"] = data["messagingContactId"]
        if "q" in data:
            filters["q"] = data["q"]
        if "segment" in data:
            filters["segment_id"] = data["segment"]
        return filters


class ResolveInputSerializer(InputSerializer, CustomerFilterSerializer):
    """Identity hints, as in an event envelope's `identity`."""

    # None removes an inherited field (DRF's documented way), which the stubs do not model.
    q = None  # type: ignore[assignment]
    segment = None  # type: ignore[assignment]
    authUserId = serializers.CharField(required=False, max_length=128)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give at least one identity hint.")
        return attrs


class ActivityOutputSerializer(serializers.ModelSerializer):
    occurredAt = serializers.DateTimeField(source="occurred_at")
    amountCents = serializers.IntegerField(source="amount_cents", allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "type",
            "category",
            "channel",
            "title",
            "source",
            "occurredAt",
            "amountCents",
            "currency",
            "data",
        ]


class ActivityFilterSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=ActivityCategory.values, required=False)


class MergeInputSerializer(InputSerializer):
    loserId = serializers.UUIDField()


class NoteInputSerializer(InputSerializer):
    body = serializers.CharField(max_length=10_000)


class NoteOutputSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_label")
    createdAt = serializers.DateTimeField(source="created_at")
    customerId = serializers.UUIDField(source="customer_id")

    class Meta:
        model = CustomerNote
        fields = ["id", "customerId", "body", "author", "createdAt"]


class TagsInputSerializer(InputSerializer):
    add = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.JSONField(), min_length=1)
