from django.apps import AppConfig


class SocialConfig(AppConfig):
    """Social Publisher (WHERE): Facebook, Instagram and X posting, competition promotion."""

    name = "social"

    def ready(self) -> None:
        from profiles.erasure import erasure_hook_register, export_hook_register
        from social import checks  # noqa: F401 - registers the checks
        from social.privacy import EXPORT_MODELS, social_customer_export, social_mentions_erase
        from social.promotion_services import promotion_customer_erase

        erasure_hook_register(promotion_customer_erase)
        erasure_hook_register(social_mentions_erase)
        export_hook_register("social", social_customer_export, models=EXPORT_MODELS)

        from social.dashboard import register as dashboard_register

        dashboard_register()

        # Beat's every-minute tasks are queued only in clubs where these say work is due.
        from social.periodic import register as periodic_register

        periodic_register()
