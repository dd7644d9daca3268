"""The BullMQ transport: how the CRM talks to the club's other services over Redis queues
(../shared/contracts/events.md "Transports" and "What the CRM publishes"; messaging.md).

Inbound (`inbound.py`, `consumer.py`, `manage.py consume_events`)
    A long-running consumer reads `crm-events` with the Python `bullmq` package. Job name = event
    type, job data = the envelope, which names the club (`tenantId` or `tenantSlug`). Every job
    is handed, inside that club's schema, to the handler the app that stores events registered
    at start-up (`handlers.py`): profiles registers `profiles.ingestion.events_ingest`, the very
    function behind `POST /events`, so validation, dedup (`RawEvent` unique on source and id)
    and the batched apply are the REST endpoint's, not a copy. Jobs that arrive together are
    stored with one `events_ingest` call per club (one INSERT, one apply trigger); urgent types
    are written the moment they arrive, bulk engagement waits up to a quarter second to share
    a batch (`priorities.py`). A job is tried 3 times (backoff 1 s, 2 s); one that still fails,
    and one whose envelope is rejected (no retries: it would be rejected again), moves to
    `crm-events-dlq` with its reason and is kept 7 days.

Dead letters (`models.DeadLetter`, `services.py`, `admin.py`)
    The Redis queue `crm-events-dlq` is the contract's dead-letter store; `DeadLetter` rows
    mirror it so staff can list, search and retry them in the Django admin. Written by the
    consumer when it dead-letters a job and reconciled every minute by
    `transport.sweep_dead_letters` (which also picks up jobs that failed some other way, e.g.
    stalled twice, and drops both copies after 7 days). The mirror lives in the public schema:
    an envelope that names no known club has no club schema to go to. The platform admin lists
    every row; a club's admin lists only rows whose `tenant` is that club.

Outbound (`outbound.py`)
    The outbox (`crm.outbox`, every app's events) is relayed to `crm-outbound` in batches (job
    id = the event id, so a relay that crashes after adding and before marking re-adds nothing) by
    `transport.relay_outbound_events`, queued when an apply batch that wrote outbox rows commits
    and swept per club by beat every minute. `messaging_send_enqueue` adds send requests to
    `messaging-send` with the idempotency key as the job id, for the Messaging adapter's BullMQ
    mode.

Why a Django app in SHARED_APPS: it has a management command, a model and admin pages, and its
one table (`DeadLetter`) must be in the public schema (see above). It has no per-club tables:
inbound events land in each club's `profiles_rawevent` through `events_ingest`, and the outbox
it relays is crm.outbox's.

Queue keys use `settings.BULLMQ_PREFIX` (BullMQ's default `bull`, what the NestJS services use
unless configured otherwise) on `settings.BULLMQ_REDIS_URL` (default: `REDIS_URL`).
"""
