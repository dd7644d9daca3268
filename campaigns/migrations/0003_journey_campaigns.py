"""Journey send steps as hidden JOURNEY campaigns (journeys.engine): which journey, version and
step each stands for, and the step's fixed template variables."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0002_activity_send_id_index'),
        ('segments', '0001_segments'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='journey_id',
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='journey_step',
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name='campaign',
            name='journey_version',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='variables',
            field=models.JSONField(blank=True, default=dict, help_text='Fixed template variables (journey send steps).'),
        ),
        migrations.AlterField(
            model_name='campaign',
            name='type',
            field=models.CharField(choices=[('ONE_TIME', 'One Time'), ('RECURRING', 'Recurring'), ('TRIGGERED', 'Triggered'), ('JOURNEY', 'Journey')], default='ONE_TIME', max_length=12),
        ),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.UniqueConstraint(condition=models.Q(('journey_id__isnull', False)), fields=('journey_id', 'journey_version', 'journey_step'), name='campaign_journey_step_uniq'),
        ),
    ]
