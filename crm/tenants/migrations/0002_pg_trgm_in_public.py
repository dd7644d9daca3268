"""pg_trgm, for fast substring search of customers by name, email and phone.

Created in the public schema on purpose: every club's search_path includes public, so each
club's trigram indexes find the operator classes there (CREATE EXTENSION in a club's schema
would hide them from all the others). pg_trgm is a trusted extension: the database owner may
create it without superuser rights.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
