"""Analytics join the ledger to the timeline by `data->>'sendId'` (the key the Messaging
Service echoes back on engagement events): a partial expression index on the timeline rows
that carry one keeps that join an index lookup per send, on the busiest table, without
indexing the rows that have none."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_campaigns"),
        ("profiles", "0003_customer_search_trigram_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS campaigns_activity_send_id_idx "
            "ON profiles_activity ((data->>'sendId')) WHERE data ? 'sendId'",
            "DROP INDEX IF EXISTS campaigns_activity_send_id_idx",
        )
    ]
