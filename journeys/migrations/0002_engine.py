"""The engine's additions: where a journey started listening to each log, the cursors'
horizons, and webhook deliveries."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('journeys', '0001_journeys'),
    ]

    operations = [
        migrations.AddField(
            model_name='journey',
            name='listening_from',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='journeycursor',
            name='horizon_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='journeycursor',
            name='horizon_id',
            field=models.BigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('step', models.CharField(max_length=40)),
                ('url', models.URLField(max_length=2000)),
                ('body', models.JSONField()),
                ('status', models.CharField(choices=[('PENDING', 'Waiting to be delivered (or retried at next_attempt_at)'), ('DELIVERED', 'Answered 2xx'), ('FAILED', 'Refused, or gave up after retries (see last_error)')], default='PENDING', max_length=10)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField()),
                ('last_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('created_at', models.DateTimeField()),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('enrolment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='journeys.enrolment')),
                ('journey', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='journeys.journey')),
            ],
            options={
                'ordering': ['-created_at'],
                'indexes': [models.Index(condition=models.Q(('status', 'PENDING')), fields=['next_attempt_at'], name='journey_webhook_due_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('enrolment__isnull', False)), fields=('enrolment', 'step'), name='journey_webhook_once_uniq')],
            },
        ),
    ]
