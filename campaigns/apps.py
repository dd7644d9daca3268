from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaign Manager (WHEN): scheduled sends, A/B tests, delivery, analytics."""

    name = "campaigns"

    def ready(self) -> None:
        from campaigns.dashboard import register as dashboard_register

        dashboard_register()
