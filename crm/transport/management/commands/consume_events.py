"""`python manage.py consume_events`: the long-running consumer of the `crm-events` queue.

Run one or several (processes or machines); stop with SIGTERM or Ctrl-C, which finishes the
jobs in hand first. See crm/transport/consumer.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.db import tenant_connection
from crm.transport.consumer import EventConsumer


class Command(BaseCommand):
    help = "Consume the upstream services' events from the BullMQ queue crm-events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency", type=int, default=1000,
            help="Jobs held at once (default 1000): several batches, so some are fetched and "
            "completed while another is written.",
        )  # fmt: skip
        parser.add_argument(
            "--batch-size", type=int, default=250,
            help="Most jobs taken from Redis in one round trip and written to the database "
            "together (default 250).",
        )  # fmt: skip
        parser.add_argument(
            "--shutdown-grace", type=float, default=20.0,
            help="Seconds to finish the jobs in hand after SIGTERM (default 20).",
        )  # fmt: skip
        parser.add_argument(
            "--lock-seconds", type=float, default=30.0,
            help="How long a job stays locked without renewal, and how often stalled jobs are "
            "looked for (default 30): how soon a killed consumer's jobs are handed out again.",
        )  # fmt: skip
        parser.add_argument("--name", default="", help="Worker name shown in Redis CLIENT LIST.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_connection().set_schema_to_public()
        consumer = EventConsumer(
            concurrency=options["concurrency"],
            batch_size=options["batch_size"],
            shutdown_grace=options["shutdown_grace"],
            name=options["name"],
            lock_seconds=options["lock_seconds"],
        )
        asyncio.run(consumer.run())
