from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Customer Intelligence (WHO): unified customer profiles."""

    name = "profiles"

    def ready(self) -> None:
        from profiles.dashboard import register as dashboard_register

        dashboard_register()
