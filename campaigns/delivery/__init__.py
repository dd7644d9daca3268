"""Delivery adapters behind one interface (`base.DeliveryAdapter`):

- `http.HttpAdapter`: the Messaging Service's REST API (`MESSAGING_URL`), batch endpoint first;
- `bullmq.BullMQAdapter`: jobs on `messaging-send` through crm.transport;
- `email.EmailAdapter`: the built-in fallback through Django's email framework, with RFC 8058
  one-click unsubscribe, for a club with no Messaging Service.

`adapter_for_settings()` picks one: `CAMPAIGN_TRANSPORT` (`http`, `bullmq`, `email`) when set,
else HTTP when `MESSAGING_URL` is set, else the email fallback.
"""

from __future__ import annotations

from django.conf import settings

from campaigns.delivery.base import DeliveryAdapter, DeliveryResult


def adapter_for_settings() -> DeliveryAdapter:
    choice = (getattr(settings, "CAMPAIGN_TRANSPORT", "") or "").lower()
    if not choice:
        choice = "http" if settings.MESSAGING_URL else "email"
    if choice == "http":
        from campaigns.delivery.http import HttpAdapter

        return HttpAdapter(base_url=settings.MESSAGING_URL, token=settings.MESSAGING_TOKEN)
    if choice == "bullmq":
        from campaigns.delivery.bullmq import BullMQAdapter

        return BullMQAdapter()
    if choice == "email":
        from campaigns.delivery.email import EmailAdapter

        return EmailAdapter()
    raise ValueError(f"Unknown CAMPAIGN_TRANSPORT {choice!r}: use http, bullmq or email.")


__all__ = ["DeliveryAdapter", "DeliveryResult", "adapter_for_settings"]
