"""When `transport.relay_outbound_events` (beat, every minute) could find something to do in a
club: outbox rows not yet relayed (crm/periodic.py asks every club at once)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register

RELAY_OUTBOUND = WorkProbe(
    task="transport.relay_outbound_events",
    condition="EXISTS (SELECT 1 FROM {profiles_outboundevent} WHERE published_at IS NULL)",
    tables=("profiles_outboundevent",),
)


def register() -> None:
    work_probe_register(RELAY_OUTBOUND)
