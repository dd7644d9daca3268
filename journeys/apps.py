from django.apps import AppConfig


class JourneysConfig(AppConfig):
    """Marketing Automation (WHAT): journeys with triggers, waits, branches and goals."""

    name = "journeys"

    def ready(self) -> None:
        from journeys.services import journeys_customer_erase
        from profiles.erasure import erasure_hook_register

        erasure_hook_register(journeys_customer_erase)

        from journeys.dashboard import register as dashboard_register

        dashboard_register()
