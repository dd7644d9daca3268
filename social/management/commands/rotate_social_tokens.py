"""`manage.py rotate_social_tokens`: re-encrypt every club's social tokens with the first key
of CRM_SOCIAL_TOKEN_KEYS. Rotate by putting the new key first (keeping the old one after it),
running this, then dropping the old key."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import schema_context

from crm.tenants.models import Tenant
from social.crypto import token_rotate
from social.models import SocialAccount


class Command(BaseCommand):
    help = "Re-encrypt the social accounts' tokens with the newest CRM_SOCIAL_TOKEN_KEYS key."

    def handle(self, *args, **options) -> None:
        total = 0
        for schema in Tenant.objects.values_list("schema_name", flat=True):
            with schema_context(schema), transaction.atomic():
                accounts = list(SocialAccount.objects.select_for_update())
                for account in accounts:
                    account.access_token_enc = token_rotate(account.access_token_enc)
                    account.refresh_token_enc = token_rotate(account.refresh_token_enc)
                SocialAccount.objects.bulk_update(
                    accounts, ["access_token_enc", "refresh_token_enc"], batch_size=500
                )
                total += len(accounts)
        self.stdout.write(f"Re-encrypted the tokens of {total} account(s).")
