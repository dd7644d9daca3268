from django.apps import AppConfig


class TransportConfig(AppConfig):
    name = "crm.transport"
    label = "transport"
    verbose_name = "Event transport"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Beat's relay is queued only in clubs with unrelayed outbox rows (crm/periodic.py).
        from crm.transport.periodic import register as periodic_register

        periodic_register()
