"""The consumer of `crm-events` that `manage.py consume_events` runs (see the package docstring).

One asyncio process holding up to `concurrency` jobs at a time: it takes jobs from BullMQ in
batches (bullmq's own Lua scripts, many per round trip: `_EventWorker`), writes them in batches
of up to `batch_size` through `inbound.event_jobs_ingest` on one database thread (Django's ORM
is synchronous), then completes each batch's stored jobs in one round trip, and retries a failed
job (3 tries, backoff 1 s, 2 s) or moves it to the dead-letter queue (`EventConsumer`).

Several consumers, on one machine or many, share the queue safely: BullMQ gives a job to one
worker at a time, and if a job is ever delivered twice (a consumer died holding it, its lock ran
out), `RawEvent`'s unique (source, id) makes the second delivery a duplicate, applied never.

Shutdown (SIGTERM or SIGINT): the consumer stops fetching, the batcher writes what it holds at
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
from dataclasses import dataclass
from typing import Any

import msgpack
from bullmq import Job, Queue, UnrecoverableError, Worker
from bullmq.scripts import raw2NextJobData
from bullmq.timer import Timer

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
    """bullmq's Worker for what it does well: its connections, its Lua scripts (every state
    change of a job is one of them, atomic in Redis), lock renewal (`lockManager`), the check
    that hands stalled jobs out again, the blocking wait for new jobs. Its fetch loop, one job at
    a time, is not used (`run()` is never called): the consumer takes jobs in batches with the
    two methods below, which run the very scripts the stock worker runs, `moveToActive` and
    `moveToFinished`, once per job as it does, but many per round trip (a Redis pipeline).

    Why: the stock loop spends two round trips and an asyncio task per job, and waits on a set
    of `concurrency` tasks after each one. Profiled at 20,000 jobs (py-spy, benchmarks/README.md)
    most of the consumer's own time went to those socket writes and that bookkeeping, and it
    topped out near 1,000 jobs/s whatever the batch size of the database writes.

    The scripts' arguments are built as bullmq 3.4.4 builds them (`Scripts.moveToActive`,
    `Scripts.moveToCompletedArgs`); requirements.txt pins that version and the interop tests
    (tests/test_bullmq_*.py, with Node's bullmq on the other end) run every path.

    A job whose data is not JSON reaches the consumer marked, so it can be dead-lettered with a
    clear reason; the stock worker raises while reading it, which leaves the job active until its
    lock runs out and it stalls.
    """

    async def nextJobFromJobData(
        self,
        job_data: dict[str, Any] | None = None,
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
            job.crm_unreadable = unreadable
            job.crm_raw_data = raw
        return job

    async def take(self, count: int) -> list[Job]:
        """Up to `count` jobs moved to active and locked by this worker, in the queue's order
        (priority, then age): `count` runs of `moveToActive` in one round trip."""
        scripts = self.scripts
        keys = scripts.getKeys(
            ["wait", "active", "prioritized", "events", "stalled", "limiter", "delayed",
             "paused", "meta", "pc", "marker"]
        )  # fmt: skip
        tokens = []
        async with self.client.pipeline(transaction=False) as pipe:
            for _ in range(count):
                self._token_postfix += 1
                token = f"{self.id}:{self._token_postfix}"
                tokens.append(token)
                packed = msgpack.packb(
                    {
                        "token": token,
                        "lockDuration": self.opts["lockDuration"],
                        "limiter": self.opts.get("limiter"),
                    },
                    use_bin_type=True,
                )
                args = [scripts.keys[""], round(time.time() * 1000), packed]
                await scripts.commands["moveToActive"](keys=keys, args=args, client=pipe)
            results = await pipe.execute()
        jobs = []
        for token, raw in zip(tokens, results, strict=True):
            job_data, job_id, limit_until, delay_until = raw2NextJobData(raw)
            job = await self.nextJobFromJobData(
                job_data, job_id, limit_until or 0, delay_until or 0, token
            )
            # An empty answer means the queue ran dry at that point; a later one in the same
            # pipeline can still bring a job a producer added meanwhile, moved to active and
            # locked for us: keep every one.
            if job is not None:
                jobs.append(job)
        return jobs

    async def complete(self, finished: list[tuple[Job, dict[str, Any]]]) -> list[str]:
        """Jobs completed with their return values: `moveToFinished` for each, in one round
        trip. Returns a problem per job ("" when completed), e.g. a lock lost because the job
        took longer than the lock lasts: then BullMQ hands it out again, and it is answered as a
        duplicate."""
        scripts = self.scripts
        async with self.client.pipeline(transaction=False) as pipe:
            for job, value in finished:
                keys, args = scripts.moveToCompletedArgs(
                    job, value, job.opts.get("removeOnComplete", False), job.token, False
                )
                await scripts.commands["moveToFinished"](keys=keys, args=args, client=pipe)
            results = await pipe.execute(raise_on_error=False)
        problems = []
        for (job, _value), result in zip(finished, results, strict=True):
            if isinstance(result, Exception):
                problems.append(repr(result))
            elif isinstance(result, int) and result < 0:
                error = scripts.finishedErrors(
                    {"code": result, "jobId": job.id, "command": "moveToFinished",
                     "state": "active"}
                )  # fmt: skip
                problems.append(str(error))
            else:
                problems.append("")
        return problems


@dataclass
class _InHand:
    job: Job
    inbound: InboundJob
    priority: int

    @property
    def linger(self) -> float:
        return LINGER_SECONDS[self.priority]


def _priority_of(job: Job) -> int:
    data = job.data if isinstance(job.data, dict) else {}
    received = data.get("type")
    event_type = received if isinstance(received, str) else str(job.name or "")
    source = data.get("source") if isinstance(data.get("source"), str) else None
    return event_priority(event_type, source)


class EventConsumer:
    """Three asyncio loops share the jobs in hand (at most `concurrency`):

    - fetch: takes up to `batch_size` jobs per round trip while there is room, else waits
      (the stock worker's blocking wait on the queue's marker) until a producer adds some;
    - write: gathers them into batches (urgent ones at once, bulk engagement lingers a
      little, `priorities.py`) and stores each batch with `event_jobs_ingest` on the one
      database thread: one `events_ingest` call per club per batch;
    - finish, a task per written batch so the next batch is written meanwhile: every stored job
      completed in one round trip; a failed one retried (3 tries, backoff 1 s, 2 s) or moved
      to the dead-letter queue, one by one (they are rare).

    A job is completed only after its batch committed, so a consumer killed at any moment loses
    nothing: its jobs stay active under a lock that nobody renews, and once it expires BullMQ's
    stalled-job check (run by every consumer) puts them back on the queue; those already stored
    are then answered as duplicates.
    """

    def __init__(
        self,
        *,
        concurrency: int = 1000,
        batch_size: int = 250,
        shutdown_grace: float = 20.0,
        name: str = "",
        lock_seconds: float = 30.0,
    ) -> None:
        if concurrency < 1 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be at least 1")
        if lock_seconds < 1:
            raise ValueError("lock_seconds must be at least 1")
        # How long a job stays locked to this consumer without a renewal (renewed every half of
        # it while held), and how often the stalled-job check runs: the time a killed
        # consumer's jobs take to come back. BullMQ's default is 30 s for both.
        self.lock_ms = int(lock_seconds * 1000)
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.shutdown_grace = shutdown_grace
        self.name = name or f"crm-consumer-{socket.gethostname()}-{os.getpid()}"
        self._stopping = False
        self._forced = False
        self._held = 0
        self._waiting: asyncio.Future[None] | None = None
        self._force_task: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-consumer-db")
        self._inbox: asyncio.Queue[_InHand] = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._dlq = Queue(DEAD_LETTER_QUEUE, connection_options())
        worker = self._worker = _EventWorker(
            EVENTS_QUEUE,
            None,
            {
                **connection_options(),
                "autorun": False,
                "name": self.name,
                "lockDuration": self.lock_ms,
                "stalledInterval": self.lock_ms,
            },
        )
        worker._token_postfix = 0
        worker.on("error", self._on_error)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        await worker._ensure_client_names()
        worker.lockManager.start()
        stalled_check = Timer(
            worker.opts["stalledInterval"] / 1000, worker.runStalledJobsCheck, worker.emit
        )
        worker.running = True
        batcher = asyncio.create_task(self._batch_loop())
        logger.info(
            "Consuming %s (up to %d jobs in hand, batches of up to %d) as %s",
            EVENTS_QUEUE, self.concurrency, self.batch_size, self.name,
        )  # fmt: skip
        try:
            await self._fetch_loop()
            await self._drain()
        finally:
            batcher.cancel()
            stalled_check.stop()
            worker.running = False
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if not worker.closed:
                await worker.close(force=self._forced)
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
        if self._waiting is not None:
            self._waiting.cancel()
        self._room.set()

    async def _drain(self) -> None:
        """After the last fetch: wait for every job in hand to finish, `shutdown_grace` at most."""

        async def idle() -> None:
            while self._held and not self._forced:
                self._idle.clear()
                await self._idle.wait()

        try:
            await asyncio.wait_for(idle(), self.shutdown_grace)
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
            self._release([item])
        # A batch being written finishes its transaction or rolls it back; if its jobs are not
        # completed, BullMQ hands them out again once their locks expire.
        self._idle.set()

    def _on_error(self, error: BaseException, *args: Any) -> None:
        logger.error("BullMQ worker error: %r", error)

    def _release(self, items: list[_InHand]) -> None:
        for item in items:
            self._worker.lockManager.untrack_job(item.job.id)
        self._held -= len(items)
        if self._held < self.concurrency:
            self._room.set()
        if self._held == 0:
            self._idle.set()

    # -- fetching -------------------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        worker = self._worker
        while not self._stopping:
            room = self.concurrency - self._held
            if room < min(self.batch_size, self.concurrency):
                self._room.clear()
                await self._room.wait()
                continue
            try:
                jobs = await worker.take(min(room, self.batch_size))
            except Exception as exc:
                if self._stopping:
                    break
                worker.emit("error", exc)
                await asyncio.sleep(1.0)  # Redis is away: try again shortly, without spinning
                continue
            if not jobs:
                await self._wait_for_jobs()
                continue
            now = int(time.time() * 1000)
            self._held += len(jobs)
            for job in jobs:
                worker.lockManager.track_job(job.id, job.token, now)
                self._inbox.put_nowait(self._in_hand(job))

    async def _wait_for_jobs(self) -> None:
        """The stock worker's wait: blocks on the queue's marker until a job is added or a
        delayed one (a retry) is due, at most `drainDelay` seconds."""
        worker = self._worker
        self._waiting = asyncio.ensure_future(worker.waitForJob())
        try:
            worker.blockUntil = await self._waiting
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except Exception as exc:
            worker.emit("error", exc)
            await asyncio.sleep(1.0)
        finally:
            self._waiting = None

    def _in_hand(self, job: Job) -> _InHand:
        return _InHand(
            job=job,
            inbound=InboundJob(
                job_id=str(job.id),
                name=job.name or "",
                data=job.data,
                unreadable=getattr(job, "crm_unreadable", ""),
            ),
            priority=_priority_of(job),
        )

    # -- batches ------------------------------------------------------------------------------

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._inbox.get()]
            deadline = loop.time() + batch[0].linger
            while len(batch) < self.batch_size:
                while len(batch) < self.batch_size and not self._inbox.empty():
                    batch.append(self._inbox.get_nowait())
                    deadline = min(deadline, loop.time() + batch[-1].linger)
                timeout = 0.0 if self._stopping else deadline - loop.time()
                if timeout <= 0 or len(batch) >= self.batch_size:
                    break
                try:
                    item = await asyncio.wait_for(self._inbox.get(), timeout)
                except TimeoutError:
                    continue
                batch.append(item)
                deadline = min(deadline, loop.time() + item.linger)
            # Urgent events first: they get the lower ids, and apply takes events in id order.
            batch.sort(key=lambda item: item.priority)
            deferred = [item for item in batch if item.job.deferredFailure]
            batch = [item for item in batch if not item.job.deferredFailure]
            try:
                outcomes = await loop.run_in_executor(
                    self._db,
                    functools.partial(event_jobs_ingest, jobs=[item.inbound for item in batch]),
                )
            except Exception as exc:  # event_jobs_ingest answers per job; this is a bug
                logger.exception("Batch of %d jobs failed", len(batch))
                outcomes = [Outcome.failed(repr(exc), permanent=False)] * len(batch)
            for item in deferred:  # failed by BullMQ itself before it reached us
                outcomes.append(Outcome.failed(item.job.deferredFailure, permanent=True))
                batch.append(item)
            task = asyncio.create_task(self._finish(batch, outcomes))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _finish(self, batch: list[_InHand], outcomes: list[Outcome]) -> None:
        try:
            done = [
                (item.job, {**outcome.result, "consumer": self.name})
                for item, outcome in zip(batch, outcomes, strict=True)
                if outcome.ok
            ]
            if done:
                try:
                    problems = await self._worker.complete(done)
                except Exception:
                    # Stored but not completed: the locks expire and BullMQ hands them out
                    # again, when they are answered as duplicates.
                    logger.warning("Could not complete %d stored jobs", len(done), exc_info=True)
                    problems = []
                for (job, _value), problem in zip(done, problems, strict=False):
                    if problem:
                        logger.warning("Job %s stored but not completed: %s", job.id, problem)
            failed = [
                (item.job, outcome)
                for item, outcome in zip(batch, outcomes, strict=True)
                if not outcome.ok
            ]
            if failed:
                await asyncio.gather(*(self._fail(job, outcome) for job, outcome in failed))
        finally:
            self._release(batch)

    async def _fail(self, job: Job, outcome: Outcome) -> None:
        try:
            if outcome.permanent or job.attemptsMade + 1 >= ATTEMPTS:
                await self._dead_letter(job, outcome)
                job.opts["removeOnFail"] = True  # moved to the DLQ, not kept on crm-events too
                error: Exception = UnrecoverableError(outcome.reason)
            else:
                # The contract's policy whatever the producer set: BullMQ reads these when it
                # fails the try, and schedules the next one (1 s, then 2 s).
                job.opts["attempts"] = ATTEMPTS
                job.opts["backoff"] = dict(BACKOFF)
                logger.warning(
                    "Job %s (%s) failed try %d of %d: %s",
                    job.id, job.name, job.attemptsMade + 1, ATTEMPTS, outcome.reason,
                )  # fmt: skip
                error = EventJobFailed(outcome.reason)
            await job.moveToFailed(error, job.token)
        except Exception:
            # Its lock expires and it is tried again: nothing is lost.
            logger.warning("Could not fail job %s", job.id, exc_info=True)

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
