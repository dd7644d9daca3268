from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Customer Intelligence (WHO): unified customer profiles."""

    name = "profiles"
