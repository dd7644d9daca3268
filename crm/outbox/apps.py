from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The outbox of the CRM's own events, relayed by crm.transport."""

    name = "crm.outbox"
    label = "outbox"
    verbose_name = "Outbox"
    default_auto_field = "django.db.models.BigAutoField"
