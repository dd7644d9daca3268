"""A journey's message about an event expires when the event has passed: the moment is read
from the recipient's trigger event (entries close, the competition starts, the tee time), and
a value that is not a time counts as none (the function answers NULL instead of failing the
batch). It lives in `public` (every club's search path ends there): one definition, the same
in every club, whatever way a club's schema was made (a cloned base schema copies tables,
not necessarily functions). Rolling one club back leaves it for the others."""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION public.campaigns_event_ends(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(v->'event'->>'entryClosesAt', v->'event'->>'startsAt',
                    v->'event'->>'teeTime')::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_send_topic_expiry")]

    operations = [migrations.RunSQL(CREATE, migrations.RunSQL.noop)]
