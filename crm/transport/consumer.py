"""The consumer of `crm-events` that `manage.py consume_events` runs (see the package docstring).

One asyncio process: a bullmq Worker holds up to `concurrency` jobs at a time; each job's
processor hands it to a batcher and waits for its outcome; the batcher writes jobs in batches
of up to `batch_size` through `inbound.event_jobs_ingest` on one database thread (Django's ORM
is synchronous), then each processor completes its job, retries it (3 tries, backoff 1 s, 2 s)
or moves it to the dead-letter queue.

Several consumers, on one machine or many, share the queue safely: BullMQ gives a job to one
worker at a time, and if a job is ever delivered twice (a consumer died holding it, its lock ran
out), `RawEvent`'s unique (source, id) makes the second delivery a duplicate, applied never.

Shutdown (SIGTERM or SIGINT): the worker stops fetching, the batcher writes what it holds at
once, every job in hand finishes (completed, retried or dead-lettered), then the process exits.
If that takes longer than `shutdown_grace` seconds, or a second signal comes, the jobs not yet
handed to the database go straight back to the queue (not counted as a try) and the process
stops; a batch already being written finishes its transaction or rolls it back, and if its jobs
could not be completed in time BullMQ hands them out again once their lock expires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bullmq import DelayedError, Job, Queue, UnrecoverableError, Worker

from crm.transport.inbound import (
    InboundJob,
    Outcome,
    event_jobs_ingest,
    read_job_data,
    tenant_reference_of,
)
from crm.transport.priorities import LINGER_SECONDS, event_priority
from crm.transport.queues import (
    ATTEMPTS,
    BACKOFF,
    DEAD_LETTER_QUEUE,
    EVENTS_QUEUE,
    connection_options,
)
from crm.transport.services import dead_letter_data, dead_letter_job_id, dead_letter_mirror

logger = logging.getLogger(__name__)


class EventJobFailed(Exception):
    """A try that failed for a reason that may pass (BullMQ tries the job again)."""


class _EventWorker(Worker):
    """bullmq's Worker with two repairs the consumer needs:

    - a job whose data is not JSON reaches the processor, marked, so it can be dead-lettered
      with a clear reason; the stock worker raises while fetching it, which leaves the job
      active until its lock runs out and it stalls;
    - `close()` finishes every job the fetch loop had already taken, those running when close
      was called and those whose fetch was still under way (the stock loop stops at the first
      idle moment and leaves them active), so none is left active when the connections close.
    """

    async def nextJobFromJobData(
        self,
        job_data: dict | None = None,
        job_id: str | None = None,
        limit_until: int = 0,
        delay_until: int = 0,
        token: str | None = None,
    ) -> Job | None:
        unreadable = raw = ""
        if job_data and "data" in job_data:
            _value, unreadable = read_job_data(job_data["data"])
            if unreadable:
                raw = job_data["data"]
                job_data = {**job_data, "data": "null"}
        job = await super().nextJobFromJobData(job_data, job_id, limit_until, delay_until, token)
        if job is not None and unreadable:
            job.crm_unreadable = unreadable  # type: ignore[attr-defined]
            job.crm_raw_data = raw  # type: ignore[attr-defined]
        return job

    async def close(self, force: bool = False) -> None:
        if not force:
            self.closing = True
            if self.waiting:
                self.waiting.cancel()
            seen: set[asyncio.Future] = set()
            while not self.forceClosing:  # a forced close meanwhile has done the rest
                if not self.running:
                    # The fetch loop has ended, but fetches it had started may still bring jobs
                    # (moved to active, locked by us): finish those too.
                    for task in [t for t in self.processing if t.done() and t not in seen]:
                        seen.add(task)
                        job = None if task.cancelled() or task.exception() else task.result()
                        if isinstance(job, Job):
                            self.processing.add(
                                asyncio.ensure_future(self.processJob(job, job.token))
                            )
                busy = [task for task in self.processing if not task.done()]
                if not busy and not self.running:
                    break
                if busy:
                    await asyncio.wait(busy, timeout=0.2)
                else:
                    await asyncio.sleep(0.02)
            if self.forceClosing:
                return
        await super().close(force=force)


@dataclass
class _InHand:
    job: Job
    inbound: InboundJob
    priority: int
    future: asyncio.Future = field(repr=False)

    @property
    def linger(self) -> float:
        return LINGER_SECONDS[self.priority]


def _priority_of(job: Job) -> int:
    data = job.data if isinstance(job.data, dict) else {}
    event_type = data.get("type") if isinstance(data.get("type"), str) else job.name or ""
    source = data.get("source") if isinstance(data.get("source"), str) else None
    return event_priority(event_type, source)


class EventConsumer:
    def __init__(
        self,
        *,
        concurrency: int = 100,
        batch_size: int = 50,
        shutdown_grace: float = 20.0,
        name: str = "",
    ) -> None:
        if concurrency < 1 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be at least 1")
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.shutdown_grace = shutdown_grace
        self.name = name or f"crm-consumer-{socket.gethostname()}-{os.getpid()}"
        self._stopping = False
        self._forced = False
        self._shutdown_task: asyncio.Task | None = None
        self._force_task: asyncio.Task | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-consumer-db")
        self._inbox: asyncio.Queue[_InHand] = asyncio.Queue()
        self._dlq = Queue(DEAD_LETTER_QUEUE, connection_options())
        self._worker = _EventWorker(
            EVENTS_QUEUE,
            self._process,
            {
                **connection_options(),
                "concurrency": self.concurrency,
                "autorun": False,
                "name": self.name,
            },
        )
        self._worker.on("error", self._on_error)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        batcher = asyncio.create_task(self._batch_loop())
        logger.info(
            "Consuming %s (concurrency %d, batches of up to %d) as %s",
            EVENTS_QUEUE, self.concurrency, self.batch_size, self.name,
        )  # fmt: skip
        try:
            await self._worker.run()
            if self._shutdown_task is not None:
                await self._shutdown_task
        finally:
            batcher.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self._dlq.close()
            self._db.shutdown(wait=True)
            logger.info("Consumer %s stopped", self.name)

    def stop(self) -> None:
        """First call: finish the jobs in hand, then stop. A second call: stop now."""
        if self._stopping:
            logger.warning("Second stop signal: returning unwritten jobs to the queue")
            self._force_task = asyncio.ensure_future(self._force_stop())
            return
        logger.info("Stopping: finishing the jobs in hand")
        self._stopping = True
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        closing = asyncio.ensure_future(self._worker.close())
        try:
            await asyncio.wait_for(asyncio.shield(closing), self.shutdown_grace)
        except TimeoutError:
            logger.warning("Jobs still in hand after %.0f s", self.shutdown_grace)
            await self._force_stop()

    async def _force_stop(self) -> None:
        if self._forced:
            return
        self._forced = True
        now = int(time.time() * 1000)
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            try:
                await item.job.moveToDelayed(now, item.job.token)
            except Exception:
                logger.warning("Could not return job %s; it comes back when its lock expires",
                               item.job.id, exc_info=True)  # fmt: skip
            if not item.future.done():
                item.future.set_exception(DelayedError())
        await self._worker.close(force=True)

    def _on_error(self, error: BaseException, *args: Any) -> None:
        logger.error("BullMQ worker error: %r", error)

    # -- one job ----------------------------------------------------------------------------------

    async def _process(self, job: Job, token: str) -> dict[str, Any]:
        item = _InHand(
            job=job,
            inbound=InboundJob(
                job_id=str(job.id),
                name=job.name or "",
                data=job.data,
                unreadable=getattr(job, "crm_unreadable", ""),
            ),
            priority=_priority_of(job),
            future=asyncio.get_running_loop().create_future(),
        )
        self._inbox.put_nowait(item)
        outcome: Outcome = await item.future
        if outcome.ok:
            return {**outcome.result, "consumer": self.name}
        if outcome.permanent or job.attemptsMade + 1 >= ATTEMPTS:
            await self._dead_letter(job, outcome)
            job.opts["removeOnFail"] = True  # moved to the DLQ, not kept on crm-events too
            raise UnrecoverableError(outcome.reason)
        # The contract's policy whatever the producer set: BullMQ reads these when it fails
        # the try, and schedules the next one (1 s, then 2 s).
        job.opts["attempts"] = ATTEMPTS
        job.opts["backoff"] = dict(BACKOFF)
        logger.warning(
            "Job %s (%s) failed try %d of %d: %s",
            job.id, job.name, job.attemptsMade + 1, ATTEMPTS, outcome.reason,
        )  # fmt: skip
        raise EventJobFailed(outcome.reason)

    async def _dead_letter(self, job: Job, outcome: Outcome) -> None:
        payload = dead_letter_data(
            source_job_id=str(job.id),
            name=job.name or "",
            data=job.data,
            raw_data=getattr(job, "crm_raw_data", ""),
            reason=outcome.reason,
            permanent=outcome.permanent,
            attempts=job.attemptsMade + 1,
            tenant=outcome.tenant,
            tenant_reference=outcome.tenant_reference or tenant_reference_of(job.data)[1],
        )
        dlq_id = dead_letter_job_id(source_job_id=str(job.id), timestamp=job.timestamp)
        await self._dlq.add(job.name or "event", payload, {"jobId": dlq_id})
        logger.warning("Job %s (%s) moved to %s: %s",
                       job.id, job.name, DEAD_LETTER_QUEUE, outcome.reason)  # fmt: skip
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._db, functools.partial(dead_letter_mirror, job_id=dlq_id, data=payload)
            )
        except Exception:
            # The DLQ has it; the sweep mirrors it for the admin once the database is back.
            logger.warning("Dead letter %s not mirrored yet", dlq_id, exc_info=True)

    # -- batches ------------------------------------------------------------------------------

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._inbox.get()]
            deadline = loop.time() + batch[0].linger
            while len(batch) < self.batch_size:
                timeout = 0.0 if self._stopping else deadline - loop.time()
                if timeout <= 0:
                    while len(batch) < self.batch_size and not self._inbox.empty():
                        batch.append(self._inbox.get_nowait())
                    break
                try:
                    item = await asyncio.wait_for(self._inbox.get(), timeout)
                except TimeoutError:
                    continue
                batch.append(item)
                deadline = min(deadline, loop.time() + item.linger)
            # Urgent events first: they get the lower ids, and apply takes events in id order.
            batch.sort(key=lambda item: item.priority)
            try:
                outcomes = await loop.run_in_executor(
                    self._db,
                    functools.partial(event_jobs_ingest, jobs=[item.inbound for item in batch]),
                )
            except Exception as exc:  # event_jobs_ingest answers per job; this is a bug
                logger.exception("Batch of %d jobs failed", len(batch))
                outcomes = [Outcome.failed(repr(exc), permanent=False)] * len(batch)
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.future.done():
                    item.future.set_result(outcome)
