from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "crm.tenants"
    label = "tenants"
    verbose_name = "Clubs (tenants)"

    def ready(self) -> None:
        from crm import checks  # noqa: F401 - registers the checks
