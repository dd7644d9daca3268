# Competition auto-promotion: settings, plans and their items, entries, scores, cursor.

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
import social.models
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0001_campaigns'),
        ('segments', '0001_segments'),
        ('social', '0001_social_publisher'),
    ]

    operations = [
        migrations.CreateModel(
            name='PromotionEventCursor',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('last_raw_event_id', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name='CompetitionEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('competition_id', models.CharField(max_length=128)),
                ('player_id', models.CharField(max_length=128)),
                ('entered', models.BooleanField()),
                ('changed_at', models.DateTimeField()),
                ('event_key', models.CharField(max_length=200)),
            ],
            options={
                'verbose_name_plural': 'competition entries',
                'constraints': [models.UniqueConstraint(fields=('competition_id', 'player_id'), name='social_competition_entry_uniq')],
            },
        ),
        migrations.CreateModel(
            name='CompetitionPromotion',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('competition_id', models.CharField(max_length=128, unique=True)),
                ('name', models.CharField(blank=True, max_length=200)),
                ('payload', models.JSONField(default=dict)),
                ('payload_at', models.DateTimeField(blank=True, null=True)),
                ('payload_event', models.CharField(blank=True, max_length=200)),
                ('status', models.CharField(choices=[('ACTIVE', 'Running'), ('COMPLETED', 'Completed'), ('CANCELLED', 'Competition cancelled'), ('STOPPED', 'Stopped by staff')], default='ACTIVE', max_length=12)),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('cancel_reason', models.CharField(blank=True, max_length=300)),
                ('image_url', models.CharField(blank=True, help_text='The competition image last fetched (or tried).', max_length=1000)),
                ('image_error', models.CharField(blank=True, max_length=500)),
                ('needs_sync', models.BooleanField(default=True)),
                ('synced_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('eligible_segment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='segments.segment')),
                ('entrants_segment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='segments.segment')),
                ('image', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='social.postimage')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='CompetitionScore',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('competition_id', models.CharField(max_length=128)),
                ('player_id', models.CharField(max_length=128)),
                ('gross', models.IntegerField(blank=True, null=True)),
                ('net', models.DecimalField(blank=True, decimal_places=1, max_digits=6, null=True)),
                ('position', models.IntegerField(blank=True, null=True)),
                ('posted_at', models.DateTimeField()),
                ('event_key', models.CharField(max_length=200)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('competition_id', 'player_id'), name='social_competition_score_uniq')],
            },
        ),
        migrations.CreateModel(
            name='PromotionItem',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('key', models.CharField(max_length=40)),
                ('kind', models.CharField(choices=[('ANNOUNCEMENT', 'Announcement'), ('REMINDER', 'Reminder'), ('FEW_PLACES', 'Few places left'), ('RESULTS', 'Results'), ('CANCELLATION', 'Cancellation')], max_length=16)),
                ('channel', models.CharField(choices=[('POST', 'Social post'), ('CAMPAIGN', 'Email/SMS campaign')], max_length=8)),
                ('days_before', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('scheduled_for', models.DateTimeField(blank=True, null=True)),
                ('subject', models.CharField(blank=True, max_length=200)),
                ('text', models.TextField(blank=True)),
                ('text_edited', models.BooleanField(default=False)),
                ('time_edited', models.BooleanField(default=False)),
                ('status', models.CharField(choices=[('PLANNED', 'Planned'), ('SCHEDULED', 'Scheduled'), ('DONE', 'Gone out'), ('FAILED', 'Failed'), ('CANCELLED', 'Cancelled'), ('SKIPPED', 'Skipped')], default='PLANNED', max_length=12)),
                ('note', models.TextField(blank=True)),
                ('error', models.TextField(blank=True, help_text='Why handing it over failed (last try).')),
                ('fingerprint', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('campaign', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='campaigns.campaign')),
                ('post', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='social.post')),
                ('promotion', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='social.competitionpromotion')),
            ],
            options={
                'ordering': ['promotion', 'scheduled_for', 'key'],
            },
        ),
        migrations.CreateModel(
            name='PromotionSettings',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('enabled', models.BooleanField(default=False, help_text='Make a promotion plan for every competition TeeTime publishes from now on.')),
                ('post_reminders', models.BooleanField(default=True, help_text='Post the reminders too (not only email/SMS them).')),
                ('email_enabled', models.BooleanField(default=True)),
                ('sms_enabled', models.BooleanField(default=False)),
                ('email_template_id', models.CharField(blank=True, default='competition_promotion', help_text='Messaging template id of the email (announcement and reminders).', max_length=100)),
                ('sms_template_id', models.CharField(blank=True, default='competition_promotion_sms', help_text='Messaging template id of the SMS.', max_length=100)),
                ('announcement_subject', models.CharField(default='Entries open: {name}', max_length=200)),
                ('reminder_subject', models.CharField(default='{daysLeft} left to enter the {name}', max_length=200)),
                ('announcement_text', models.TextField(default='Entries are open for the {name}: {format} on {startsAt}. {eligibility}. Entry fee {entryFee}. Entries close {entryClosesAt}.')),
                ('reminder_text', models.TextField(default='{daysLeft} left to enter the {name} ({format}, {startsAt}). Entries close {entryClosesAt}.')),
                ('few_places_text', models.TextField(default='Only {placesLeft} places left in the {name} on {startsAt}. Enter before {entryClosesAt}.')),
                ('results_text', models.TextField(default='Congratulations to {winner}, winner of the {name}! Thank you to everyone who played.')),
                ('cancellation_text', models.TextField(default='The {name} on {startsAt} has been cancelled. {reason} We are sorry for the disappointment.')),
                ('reminder_days', django.contrib.postgres.fields.ArrayField(base_field=models.PositiveSmallIntegerField(), default=social.models.default_reminder_days, help_text='Days before entries close that reminders go out (1 to 60).', size=None)),
                ('reminder_time', models.TimeField(default=social.models.default_reminder_time, help_text='Time of day of the reminders, club time.')),
                ('few_places_percent', models.PositiveSmallIntegerField(default=80, help_text="'Few places left' once entries reach this % of the places.")),
                ('results_delay_minutes', models.PositiveIntegerField(default=120, help_text='The results post goes out once no new score has come for this long (at the latest 24 hours after the first score).')),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('accounts', models.ManyToManyField(blank=True, help_text='Where the posts go. None chosen: every connected account.', related_name='+', to='social.socialaccount')),
                ('default_image', models.ForeignKey(blank=True, help_text='Used when the competition has no image (Instagram needs one).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='social.postimage')),
            ],
            options={
                'verbose_name': 'competition auto-promotion settings',
                'verbose_name_plural': 'competition auto-promotion settings',
            },
        ),
        migrations.AddIndex(
            model_name='competitionpromotion',
            index=models.Index(condition=models.Q(('needs_sync', True)), fields=['id'], name='social_promotion_dirty'),
        ),
        migrations.AddIndex(
            model_name='promotionitem',
            index=models.Index(fields=['status', 'scheduled_for'], name='social_promotion_item_due'),
        ),
        migrations.AddConstraint(
            model_name='promotionitem',
            constraint=models.UniqueConstraint(fields=('promotion', 'key'), name='social_promotion_item_key'),
        ),
    ]
