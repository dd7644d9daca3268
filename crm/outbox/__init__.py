"""The outbox: the CRM's own events (events.md, "What the CRM publishes"), written in the
transaction that decided them and published afterwards by the transport (crm/transport's relay
to `crm-outbound`).

Every app writes its events here through one builder (`services.py`): `outbound_record` for
one, `outbound_record_many` for a batch (one COPY), and `outbox_insert_sql` for a set-based
statement that makes its events in SQL (segments' membership changes). The three produce the
same envelope, from the one definition in `services._envelope`.

A platform app, one per club (TENANT_APPS): the outbox is every app's, so no domain app owns it,
and the transport beneath the apps reads it without importing any of them. Its table kept the
name it had when profiles owned the model (`profiles_outboundevent`): the move changed Django's
state only, no row moved (migrations `outbox.0001` and `profiles.0014`).
"""
