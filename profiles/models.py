"""The unified customer: one row per person across SCL, TeeTime and Messaging.

The columns follow the customer of api.md. Ingestion and identity resolution (which fill and
link them) arrive with the Customer Intelligence issue.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class CustomerStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    MERGED = "MERGED"
    DELETED = "DELETED"


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "SUBSCRIBER"
    LEAD = "LEAD"
    PROSPECT = "PROSPECT"
    CUSTOMER = "CUSTOMER"
    MEMBER = "MEMBER"
    ADVOCATE = "ADVOCATE"
    CHURNED = "CHURNED"


class Customer(models.Model):
    """A person the club knows, with the identifiers each upstream service gave them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )

    # Identifiers: strong ids are unique per club (one SCL member is one customer).
    auth_user_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    scl_member_id = models.BigIntegerField(null=True, blank=True, unique=True)
    teetime_player_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    messaging_contact_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    email = models.EmailField(blank=True, db_index=True, help_text="Normalised: lower case.")
    phone_number = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164.")

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=16, blank=True)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.SUBSCRIBER
    )
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    membership_tier = models.CharField(max_length=64, blank=True)
    membership_status = models.CharField(max_length=16, blank=True)
    member_since = models.DateField(null=True, blank=True)
    renewal_due_on = models.DateField(null=True, blank=True)
    handicap = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    home_club_id = models.CharField(max_length=128, blank=True)

    lifetime_value = models.BigIntegerField(default=0, help_text="Cents, in the club's currency.")
    last_activity_at = models.DateTimeField(null=True, blank=True)
    activity_count_30d = models.IntegerField(default=0)
    booking_count_30d = models.IntegerField(default=0)

    # Consent is mirrored read-only from the Messaging Service; nobody is opted in by default.
    email_opt_in = models.BooleanField(default=False)
    sms_opt_in = models.BooleanField(default=False)
    push_opt_in = models.BooleanField(default=False)
    whatsapp_opt_in = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            GinIndex(fields=["tags"]),
        ]

    def __str__(self) -> str:
        return self.display_name or str(self.id)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.email
