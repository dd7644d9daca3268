"""A short pending list for the customer search's trigram indexes (0003).

A GIN index takes new entries into an unsorted pending list and merges them into the index
when the list passes `gin_pending_list_limit` (4 MB by default) or when VACUUM runs; every
search reads the whole list, page by page, besides the index. Applying events writes customer
rows all day, so between two vacuums the four lists fill up: measured on a club of 100,000
customers right after applying 1,000,000 events (`benchmarks/ingest_apply.py`), 658 pending
pages across the four indexes made a search for one email 41 ms instead of 5-7 ms once they
were merged, and a common surname 35 ms instead of 18.5 ms; at the 4 MB limit, 2,048 pages.

256 kB (32 pages an index) bounds what a search reads while still letting a batch's new
entries be merged together rather than one by one (`fastupdate = off`).
"""

from django.db import migrations

INDEXES = (
    "customer_first_name_trgm",
    "customer_last_name_trgm",
    "customer_email_trgm",
    "customer_phone_number_trgm",
)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0006_apply_path_storage")]

    operations = [
        # IF EXISTS: 0003 builds them only where pg_trgm is installed.
        migrations.RunSQL(
            f"ALTER INDEX IF EXISTS {index} SET (gin_pending_list_limit = 256)",
            reverse_sql=f"ALTER INDEX IF EXISTS {index} RESET (gin_pending_list_limit)",
        )
        for index in INDEXES
    ]
