"""The club's own email templates and its branding (used when no Messaging Service is
configured). Imported by campaigns.models, so they are the campaigns app's tables."""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models

_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour like #1f5130.")


class EmailTemplate(models.Model):
    """One of the club's email templates: its blocks (the source, edited in the admin's block
    editor), the MJML they made at the last save, its subject and preview text. `key` is the
    `templateId` a campaign names (messaging.md), unique in the club. `starter` names the
    starter it was seeded from (newsletter, competition_invite, renewal_reminder) or is blank.
    Holds no customer's data: variables are filled in per send, never stored here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.SlugField(
        max_length=100, unique=True, help_text="The id campaigns use: letters, digits, - and _."
    )
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=250)
    preheader = models.CharField(
        max_length=200, blank=True, help_text="The line inboxes show beside the subject."
    )
    blocks = models.JSONField(default=list)
    mjml = models.TextField(blank=True, help_text="The MJML the blocks made at the last save.")
    starter = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "email template"

    def __str__(self) -> str:
        return self.name


class ClubBranding(models.Model):
    """The club's look in emails (one row, id 1): logo, colours, postal address and website,
    shown by every template's header and footer."""

    logo_url = models.URLField(
        max_length=1000, blank=True, help_text="The club's logo (https://…); blank: its name."
    )
    primary_colour = models.CharField(
        max_length=7, default="#1f5130", validators=[_colour],
        help_text="Header and headings, e.g. #1f5130.",
    )  # fmt: skip
    accent_colour = models.CharField(
        max_length=7, default="#c8102e", validators=[_colour], help_text="Buttons."
    )
    address = models.TextField(
        blank=True,
        help_text="The club's postal address, shown under its name in every email's footer.",
    )
    website = models.URLField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=254, blank=True)

    class Meta:
        verbose_name = "email branding"
        verbose_name_plural = "email branding"

    def __str__(self) -> str:
        return "Email branding"
