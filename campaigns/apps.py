from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaign Manager (WHEN): scheduled sends, A/B tests, delivery, analytics."""

    name = "campaigns"

    def ready(self) -> None:
        from campaigns.privacy import (
            EXPORT_MODELS,
            campaigns_customer_erase,
            campaigns_customer_export,
        )
        from profiles.erasure import erasure_hook_register, export_hook_register

        erasure_hook_register(campaigns_customer_erase)
        export_hook_register("campaigns", campaigns_customer_export, models=EXPORT_MODELS)

        from campaigns.dashboard import register as dashboard_register

        dashboard_register()

        # Beat's every-minute tasks are queued only in clubs where these say work is due.
        from campaigns.periodic import register as periodic_register

        periodic_register()
