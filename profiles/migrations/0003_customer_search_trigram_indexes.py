"""Trigram indexes for the customer search (`q`): names, email and phone, as UPPER(col), the
expression Django's `icontains` compares. pg_trgm lives in public (tenants 0002)."""

from django.db import migrations

COLUMNS = ("first_name", "last_name", "email", "phone_number")


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_pg_trgm_in_public"),
        ("profiles", "0002_erasedidentifier_customer_address_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS customer_{column}_trgm ON profiles_customer "
            f"USING gin ((UPPER({column})) gin_trgm_ops)",
            reverse_sql=f"DROP INDEX IF EXISTS customer_{column}_trgm",
        )
        for column in COLUMNS
    ]
