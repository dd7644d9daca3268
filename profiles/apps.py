from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Customer Intelligence (WHO): unified customer profiles."""

    name = "profiles"
    verbose_name = "Customers"  # as the club admin's sidebar names it

    def ready(self) -> None:
        from profiles.erasure import erasure_hook_register
        from profiles.rounds import rounds_customer_erase

        erasure_hook_register(rounds_customer_erase)

        from profiles.dashboard import register as dashboard_register

        dashboard_register()

        # The BullMQ consumer (crm/transport) hands crm-events' jobs to the same ingestion as
        # POST /events.
        from crm.transport.handlers import InboundHandler, inbound_handler_register
        from crm.transport.queues import EVENTS_QUEUE
        from profiles.envelope import canonical_type
        from profiles.ingestion import MAX_BATCH, events_ingest

        inbound_handler_register(
            queue=EVENTS_QUEUE,
            handler=InboundHandler(
                ingest=events_ingest, max_batch=MAX_BATCH, canonical_type=canonical_type
            ),
        )

        # Beat's every-minute tasks are queued only in clubs where these say work is due.
        from profiles.periodic import register as periodic_register

        periodic_register()
