"""The admin's view of the dead-letter queue `crm-events-dlq` (see the package docstring)."""

from __future__ import annotations

from django.db import models

from crm.tenants.models import Tenant


class DeadLetterStatus(models.TextChoices):
    DEAD = "DEAD", "Dead"
    RETRIED = "RETRIED", "Retried"


class DeadLetter(models.Model):
    """One job of `crm-events` that was not taken in, mirrored from `crm-events-dlq`.

    In the public schema: a job whose envelope names no known club belongs to no club. `tenant`
    is the club the envelope named, when it named one we know; a club's admin sees only its own
    rows, the platform admin all of them. Rows go after `DEAD_LETTER_DAYS`, with the Redis job.
    """

    job_id = models.CharField(
        max_length=255, unique=True, help_text="Id of the job on crm-events-dlq."
    )
    source_job_id = models.CharField(max_length=255, help_text="Id it had on crm-events.")
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="dead_letters"
    )
    tenant_reference = models.CharField(
        max_length=100, blank=True, help_text="The tenantId or tenantSlug the envelope gave."
    )
    event_type = models.CharField(max_length=255, blank=True, help_text="The job's name.")
    event_id = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=32, blank=True)
    envelope = models.JSONField(null=True, blank=True, help_text="The job's data, as sent.")
    raw_data = models.TextField(blank=True, help_text="The job's data when it was not JSON.")
    reason = models.TextField()
    permanent = models.BooleanField(
        default=False, help_text="Rejected as it is (not retried automatically)."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    failed_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=DeadLetterStatus.choices, default=DeadLetterStatus.DEAD
    )
    retried_at = models.DateTimeField(null=True, blank=True)
    retried_by = models.CharField(max_length=254, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "status", "-failed_at"]),
            models.Index(fields=["failed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or '(no name)'} {self.event_id or self.source_job_id}"
