"""System checks of our own, run by `manage.py check` (and `--deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs, **kwargs) -> list[Error]:
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is not set: the development key is public.",
                hint="Set the SECRET_KEY environment variable to a long random value.",
                id="crm.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def social_token_keys_are_set(app_configs, **kwargs) -> list[Error]:
    """The networks' tokens are encrypted with these keys; without one nothing can be stored
    or read, and a made-up default would be a published key."""
    from social.crypto import token_keys_problem

    problem = token_keys_problem()
    if problem:
        return [
            Error(
                f"CRM_SOCIAL_TOKEN_KEYS: {problem}",
                hint="Set CRM_SOCIAL_TOKEN_KEYS to one or more Fernet keys, comma-separated, "
                "newest first (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())').",
                id="crm.E002",
            )
        ]
    return []
