"""Trigram indexes for the customer search (`q`): names, email and phone, as UPPER(col), the
expression Django's `icontains` compares. Built only where pg_trgm is installed (tenants 0002);
without it the search works, scanning."""

from django.db import migrations

COLUMNS = ("first_name", "last_name", "email", "phone_number")

CREATE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS customer_{column}_trgm ON profiles_customer
            USING gin ((UPPER({column})) gin_trgm_ops);
    END IF;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_pg_trgm_in_public"),
        ("profiles", "0002_erasedidentifier_customer_address_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            CREATE.format(column=column),
            reverse_sql=f"DROP INDEX IF EXISTS customer_{column}_trgm",
        )
        for column in COLUMNS
    ]
