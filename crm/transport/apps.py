from django.apps import AppConfig


class TransportConfig(AppConfig):
    name = "crm.transport"
    label = "transport"
    verbose_name = "Event transport"
    default_auto_field = "django.db.models.BigAutoField"
