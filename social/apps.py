from django.apps import AppConfig


class SocialConfig(AppConfig):
    """Social Publisher (WHERE): Facebook, Instagram and X posting, competition promotion."""

    name = "social"

    def ready(self) -> None:
        from profiles.erasure import erasure_hook_register
        from social.promotion_services import promotion_customer_erase

        erasure_hook_register(promotion_customer_erase)

        from social.dashboard import register as dashboard_register

        dashboard_register()
