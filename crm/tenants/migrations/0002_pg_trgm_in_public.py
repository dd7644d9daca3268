"""pg_trgm, for fast substring search of customers by name, email and phone.

Created in the public schema on purpose: every club's search_path includes public, so each
club's trigram indexes find the operator classes there (CREATE EXTENSION in a club's schema
would hide them from all the others). pg_trgm is a trusted extension: the database owner may
create it without superuser rights.

Only where the server offers it: PostgreSQL builds without the contrib extensions (the embedded
development server, pgserver, is one) skip it, and customer search then scans instead of using
an index (profiles 0003).
"""

from django.db import migrations

CREATE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    ELSE
        RAISE NOTICE 'pg_trgm is not available: customer search will not use trigram indexes';
    END IF;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql=migrations.RunSQL.noop)]
