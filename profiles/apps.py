from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Customer Intelligence (WHO): unified customer profiles."""

    name = "profiles"
    verbose_name = "Customers"  # as the club admin's sidebar names it
