"""Queue names, job options and connections: what both ends of a queue must agree on.

The names are the contracts' (events.md, messaging.md); the key prefix and the Redis come from
settings, so a test run (or a second platform on one Redis) can keep its queues apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from bullmq import Queue
from django.conf import settings

EVENTS_QUEUE = "crm-events"
DEAD_LETTER_QUEUE = "crm-events-dlq"
OUTBOUND_QUEUE = "crm-outbound"
MESSAGING_QUEUE = "messaging-send"

# events.md: "A job is tried 3 times with exponential backoff (1 s, 2 s, 4 s)". BullMQ waits
# delay * 2^(n-1) before try n+1, so 3 tries wait 1 s then 2 s; the 4 s step would precede a
# fourth try, which the contract does not make.
ATTEMPTS = 3
BACKOFF = {"type": "exponential", "delay": 1000}
DEAD_LETTER_DAYS = 7

# For jobs the CRM adds (crm-outbound, messaging-send): a job id dedups only while the job
# exists, so finished jobs are kept a day, far beyond any relay retry, then dropped so Redis
# does not grow without bound. The consumers' own settings may remove them sooner.
KEEP_FINISHED = {"age": 24 * 60 * 60}
PRODUCED_JOB_OPTIONS: dict[str, Any] = {
    "attempts": ATTEMPTS,
    "backoff": BACKOFF,
    "removeOnComplete": KEEP_FINISHED,
    "removeOnFail": {"age": DEAD_LETTER_DAYS * 24 * 60 * 60},
}

T = TypeVar("T")


def connection_options() -> dict[str, Any]:
    return {"connection": settings.BULLMQ_REDIS_URL, "prefix": settings.BULLMQ_PREFIX}


@asynccontextmanager
async def open_queue(name: str) -> AsyncIterator[Queue]:
    queue = Queue(name, connection_options())
    try:
        yield queue
    finally:
        await queue.close()


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run one piece of asyncio work (a bullmq call) from synchronous code: a Celery task, an
    admin action, a management command. Each call has its own loop and its own connection."""
    return asyncio.run(function())  # type: ignore[arg-type]


def job_id_safe(value: str) -> str:
    """BullMQ keys a job as `<prefix>:<queue>:<id>`; Node's `Queue.add` refuses custom ids that
    hold a colon or are whole numbers, so ids we make avoid both."""
    return value.replace(":", "_")
