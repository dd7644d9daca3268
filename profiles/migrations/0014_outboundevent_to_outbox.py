"""`OutboundEvent` now belongs to the outbox (crm/outbox): taken out of profiles' state only;
its table `profiles_outboundevent` and every row in it stay (outbox.0001 names the table)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0013_score_weeks_dashboard_indexes"),
        ("outbox", "0001_outbound_event"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboundEvent")],
            database_operations=[],
        ),
    ]
