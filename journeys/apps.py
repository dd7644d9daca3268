from django.apps import AppConfig


class JourneysConfig(AppConfig):
    """Marketing Automation (WHAT): journeys with triggers, waits, branches and goals."""

    name = "journeys"
