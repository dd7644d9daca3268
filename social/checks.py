"""Social's system checks, run by `manage.py check --deploy` (registered from
`SocialConfig.ready`). The id keeps the `crm.` prefix it was published under."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

from social.crypto import token_keys_problem


@register(Tags.security, deploy=True)
def social_token_keys_are_set(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The networks' tokens are encrypted with these keys; without one nothing can be stored
    or read, and a made-up default would be a published key."""
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
