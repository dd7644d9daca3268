from django.apps import AppConfig


class SocialConfig(AppConfig):
    """Social Publisher (WHERE): Facebook, Instagram and X posting, competition promotion."""

    name = "social"
