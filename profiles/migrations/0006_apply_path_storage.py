"""Storage of the tables applying events writes to hardest (benchmarks/README.md,
"ingest_apply.py": 1,000,000 events for 100,000 customers).

1. Room on each page of profiles_customer for the next version of its rows. Applying events
   rewrites the counters of every customer a batch touches (last activity, 30-day counts,
   lifetime value, lifecycle stage): about one row update per event. None of those columns is
   indexed, so PostgreSQL can make such an update heap-only (HOT): the new row version goes on
   the same page and none of the table's indexes (four of them trigram GIN) gets an entry, but
   only if that page has room. At the default fillfactor of 100 it seldom has: measured on a
   club of 100,000 customers after 1,000,000 events, 23% of the updates were HOT, and updating
   the counters of 1,500 customers cost 116-380 ms and 30,000-45,000 buffer accesses; with
   pages filled to 70%, 36-72 ms and about 10,000. It applies to pages written from now on; an
   existing club's pages get room as they are rewritten (VACUUM FULL does all of them).

2. No `varchar_pattern_ops` twins of the identifier indexes. Django makes one beside every
   indexed CharField for `LIKE 'prefix%'`; nothing here searches by prefix (search is exact on
   these columns, or `icontains` on the trigram indexes), and every new row version of a
   customer or a source record paid for them: 5 of the customer's 20 indexes, 2 of the source
   record's 8. The plain btree indexes stay. (Django recreates such a twin only if a later
   migration alters the field's index; drop it again then.)
"""

from django.db import migrations

# (table, index, column) of each twin; index names are Django's, the same in every schema.
_PATTERN_TWINS = [
    ("profiles_customer", "profiles_customer_auth_user_id_f9d3a000_like", "auth_user_id"),
    ("profiles_customer", "profiles_customer_teetime_player_id_2a393040_like", "teetime_player_id"),
    (
        "profiles_customer",
        "profiles_customer_messaging_contact_id_d6b3b8a1_like",
        "messaging_contact_id",
    ),
    ("profiles_customer", "profiles_customer_email_6b3662ae_like", "email"),
    ("profiles_customer", "profiles_customer_phone_number_a92d471f_like", "phone_number"),
    ("profiles_sourcerecord", "profiles_sourcerecord_email_b44512f3_like", "email"),
    ("profiles_sourcerecord", "profiles_sourcerecord_phone_3cc7fa51_like", "phone"),
]


class Migration(migrations.Migration):
    dependencies = [("profiles", "0005_scoring_models")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE profiles_customer SET (fillfactor = 70)",
            reverse_sql="ALTER TABLE profiles_customer RESET (fillfactor)",
        ),
        migrations.RunSQL(
            [f"DROP INDEX IF EXISTS {index}" for _table, index, _column in _PATTERN_TWINS],
            reverse_sql=[
                f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({column} varchar_pattern_ops)"
                for table, index, column in _PATTERN_TWINS
            ],
        ),
    ]
