"""`OutboundEvent` moves from profiles to the outbox: Django's state only. The table
(`profiles_outboundevent`, made by profiles.0002) stays as it is, with its rows, in every club
and in the template schema that new clubs are copied from; profiles.0014 takes the model out of
profiles' state."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("profiles", "0002_erasedidentifier_customer_address_and_more"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboundEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("event_id", models.UUIDField(default=uuid.uuid4, unique=True)),
                        ("type", models.CharField(max_length=64)),
                        ("envelope", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("published_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "profiles_outboundevent",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("published_at__isnull", True)),
                                fields=["id"],
                                name="outbound_unpublished_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
