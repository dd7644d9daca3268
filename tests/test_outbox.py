"""The outbox (crm/outbox): one envelope, whether an event is written from Python (one row or a
COPY of many) or by a set-based statement in SQL (segments' membership changes)."""

from __future__ import annotations

import uuid

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.outbox.models import OutboundEvent
from crm.outbox.services import (
    outbound_record,
    outbound_record_many,
    outbox_insert_sql,
    outbox_sql_params,
)
from profiles.models import Customer
from profiles.outbound import customer_identity, customer_identity_sql

PAYLOAD_SQL = "jsonb_build_object('customerId', c.id::text, 'change', 'ENTERED', 'n', 1)"


def _without_moment(envelope: dict) -> dict:
    return {key: value for key, value in envelope.items() if key not in ("id", "timestamp")}


def test_python_and_sql_forms_build_the_same_envelope(clubs):
    with schema_context(clubs.alpha.schema_name):
        customer = Customer.objects.create(
            first_name="Aoife", email="aoife@example.ie", phone_number="", scl_member_id=4417
        )
        payload = {"customerId": str(customer.id), "change": "ENTERED", "n": 1}
        one = outbound_record(
            event_type="crm.test.happened", payload=payload, identity=customer_identity(customer)
        )
        outbound_record_many(items=[("crm.test.happened", payload, customer_identity(customer))])
        many = OutboundEvent.objects.exclude(id=one.id).get(type="crm.test.happened")

        now = timezone.now()
        sql = outbox_insert_sql(
            rows="(SELECT gen_random_uuid() AS event_id) AS e "
            "JOIN profiles_customer AS c ON c.id = %(customer)s",
            event_id="e.event_id",
            identity=customer_identity_sql("c"),
            payload=PAYLOAD_SQL,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"{sql} RETURNING event_id",
                {
                    "customer": customer.id,
                    **outbox_sql_params(event_type="crm.test.happened", now=now),
                },
            )
            (event_id,) = cursor.fetchone()
        in_sql = OutboundEvent.objects.get(event_id=event_id)
        one.refresh_from_db()

    assert one.envelope["identity"] == {
        "customerId": str(customer.id), "email": "aoife@example.ie", "sclMemberId": 4417,
    }  # fmt: skip
    assert _without_moment(one.envelope) == _without_moment(many.envelope)
    assert _without_moment(one.envelope) == _without_moment(in_sql.envelope)
    assert in_sql.envelope["id"] == str(in_sql.event_id)
    assert in_sql.envelope["timestamp"] == now.isoformat().replace("+00:00", "Z")
    assert in_sql.envelope["tenantSlug"] == "alpha-golf"
    assert in_sql.type == "crm.test.happened" and in_sql.created_at == now
    assert uuid.UUID(many.envelope["id"]) == many.event_id


def test_the_outbox_keeps_the_table_profiles_made():
    """The move to crm/outbox changed Django's state only: every club's rows stayed put."""
    assert OutboundEvent._meta.db_table == "profiles_outboundevent"
    assert OutboundEvent._meta.app_label == "outbox"
