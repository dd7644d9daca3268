from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Customer Intelligence (WHO): unified customer profiles."""

    name = "profiles"
    verbose_name = "Customers"  # as the club admin's sidebar names it

    def ready(self) -> None:
        from profiles.erasure import erasure_hook_register
        from profiles.rounds import rounds_customer_erase

        erasure_hook_register(rounds_customer_erase)

        from profiles.dashboard import register as dashboard_register

        dashboard_register()
