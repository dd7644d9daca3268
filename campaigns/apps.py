from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaign Manager (WHEN): scheduled sends, A/B tests, delivery, analytics."""

    name = "campaigns"
