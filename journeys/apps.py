from django.apps import AppConfig


class JourneysConfig(AppConfig):
    """Marketing Automation (WHAT): journeys with triggers, waits, branches and goals."""

    name = "journeys"

    def ready(self) -> None:
        from journeys.privacy import EXPORT_MODELS, journeys_customer_export
        from journeys.services import journeys_customer_erase
        from profiles.erasure import erasure_hook_register, export_hook_register

        erasure_hook_register(journeys_customer_erase)
        export_hook_register("journeys", journeys_customer_export, models=EXPORT_MODELS)

        from journeys.dashboard import register as dashboard_register

        dashboard_register()

        # Beat's every-minute tasks are queued only in clubs where these say work is due.
        from journeys.periodic import register as periodic_register

        periodic_register()
