"""Taking in jobs of `crm-events`: the synchronous, database side of the consumer.

`event_jobs_ingest` gets the jobs the consumer has in hand and answers one `Outcome` per job.
Everything a job's envelope means is decided by the handler the app that stores events registered
for `crm-events` (`handlers.py`; profiles registers `profiles.ingestion.events_ingest`), run in
the schema of the club the envelope names, exactly as `POST /t/<club>/api/v1/events` runs it:
the same validation (errors by field), the same dedup, the same stored `RawEvent` and apply
trigger.
What is particular to this transport is only what REST gets from its URL:

- the club: the envelope's `tenantId` (a UUID) or else its `tenantSlug` (current or old slug);
  an unknown or disabled club is a permanent failure, as REST answers it 404;
- the type: the job's name is the event type; a name that disagrees with the envelope's `type`
  is rejected, as a disagreeing tenant is on REST (aliases of one type agree).

A rejection is permanent (the same job would be rejected again); anything else that goes wrong
(the database, a club's schema) is transient and the job is tried again.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection
from django_tenants.utils import schema_context

from crm.db import tenant_connection
from crm.tenants.models import Tenant, TenantStatus
from crm.tenants.selectors import SLUG_RE, UUID_RE, tenant_get_by_reference
from crm.transport.handlers import inbound_handler
from crm.transport.queues import EVENTS_QUEUE

logger = logging.getLogger(__name__)

TRANSPORT = "bullmq"  # RawEvent.transport


@dataclass(frozen=True)
class InboundJob:
    """What the consumer read from one job."""

    job_id: str
    name: str
    data: Any
    unreadable: str = ""  # why the job's data could not be read as JSON, if it could not


@dataclass
class Outcome:
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)  # the job's return value, when ok
    reason: str = ""
    permanent: bool = False
    tenant: Tenant | None = None
    tenant_reference: str = ""

    @classmethod
    def failed(cls, reason: str, *, permanent: bool, **extra: Any) -> Outcome:
        return cls(ok=False, reason=reason, permanent=permanent, **extra)


def tenant_reference_of(data: Any) -> tuple[str, str]:
    """(`tenantId` or `tenantSlug`, the value) the envelope names its club by; ("", "") for
    none. The UUID wins when both are given: it is what internal services use, and
    `events_ingest` then rejects a slug that names another club."""
    if not isinstance(data, dict):
        return "", ""
    for name in ("tenantId", "tenantSlug"):
        value = data.get(name)
        if value is not None and value != "":
            return name, str(value).strip()
    return "", ""


def _resolve_tenants(references: set[tuple[str, str]]) -> dict[tuple[str, str], Tenant | None]:
    # A handful of distinct clubs per batch at most: one lookup each.
    resolved: dict[tuple[str, str], Tenant | None] = {}
    for name, value in references:
        reference = value.lower() if name == "tenantId" else value
        valid = UUID_RE.match(reference) if name == "tenantId" else SLUG_RE.match(reference)
        resolved[(name, value)] = tenant_get_by_reference(reference=reference) if valid else None
    return resolved


def _tenant_problem(name: str, value: str, tenant: Tenant | None) -> str:
    if not name:
        return "The envelope names no club: give tenantId or tenantSlug."
    if tenant is None:
        if name == "tenantId" and not UUID_RE.match(value.lower()):
            return f"tenantId {value!r} is not a UUID."
        return f"Unknown tenant: no club has {name} {value!r}."
    if tenant.status != TenantStatus.ACTIVE:
        return f"The club {tenant.slug!r} is {tenant.status.lower()}: it takes no events."
    return ""


def _name_problem(job: InboundJob) -> str:
    data = job.data
    received = data.get("type")
    source = data.get("source")
    if not isinstance(received, str) or not job.name or not isinstance(source, str):
        return ""  # events_ingest names what is missing or malformed
    source = source.strip().lower()
    canonical_type = inbound_handler(EVENTS_QUEUE).canonical_type
    if canonical_type(job.name, source) != canonical_type(received, source):
        return f"The job's name {job.name!r} does not match the envelope's type {received!r}."
    return ""


def describe_errors(errors: dict[str, list[str]]) -> str:
    """`events_ingest`'s errors by field, as one line for a dead letter's reason."""
    return "; ".join(f"{path}: {' '.join(messages)}" for path, messages in errors.items())


def event_jobs_ingest(*, jobs: list[InboundJob]) -> list[Outcome]:
    """Take in a batch of jobs; one Outcome per job, in order. Never raises: a failure of one
    club's write fails that club's jobs only, as transient."""
    _drop_dead_connection()
    tenant_connection().set_schema_to_public()
    outcomes: list[Outcome | None] = [None] * len(jobs)
    try:
        references = {tenant_reference_of(job.data) for job in jobs if not job.unreadable}
        tenants = _resolve_tenants({ref for ref in references if ref[0]})
    except Exception as exc:  # the registry is unreachable: nothing can be decided now
        logger.warning("Could not resolve clubs for %d jobs", len(jobs), exc_info=True)
        return [_transient(exc) for _job in jobs]

    by_tenant: dict[Tenant, list[int]] = defaultdict(list)
    for index, job in enumerate(jobs):
        if job.unreadable:
            outcomes[index] = Outcome.failed(
                f"The job's data is not valid JSON ({job.unreadable}).", permanent=True
            )
            continue
        if not isinstance(job.data, dict):
            outcomes[index] = Outcome.failed(
                "The job's data must be an event envelope (a JSON object), "
                f"not {type(job.data).__name__}.",
                permanent=True,
            )
            continue
        name, value = tenant_reference_of(job.data)
        tenant = tenants.get((name, value))
        problem = _tenant_problem(name, value, tenant) or _name_problem(job)
        if problem:
            outcomes[index] = Outcome.failed(
                problem,
                permanent=True,
                tenant=tenant,
                tenant_reference=value,
            )
            continue
        assert tenant is not None
        by_tenant[tenant].append(index)

    handler = inbound_handler(EVENTS_QUEUE)
    for tenant, indexes in by_tenant.items():
        try:
            with schema_context(tenant.schema_name):
                for start in range(0, len(indexes), handler.max_batch):
                    chunk = indexes[start : start + handler.max_batch]
                    results = handler.ingest(
                        tenant=tenant,
                        envelopes=[jobs[index].data for index in chunk],
                        transport=TRANSPORT,
                    )
                    for index, result in zip(chunk, results, strict=True):
                        outcomes[index] = _outcome_of(result, tenant)
        except Exception as exc:
            logger.warning(
                "Storing %d events of %s failed", len(indexes), tenant.slug, exc_info=True
            )
            _drop_dead_connection()
            for index in indexes:
                if outcomes[index] is None:
                    outcomes[index] = _transient(exc, tenant=tenant)
    return [outcome or _transient(RuntimeError("not processed")) for outcome in outcomes]


def _drop_dead_connection() -> None:
    # A long-lived process: reconnect if the server closed the connection or a write broke
    # it. Not inside a caller's transaction, which owns its connection.
    if not connection.in_atomic_block:
        close_old_connections()


def _outcome_of(result: dict[str, Any], tenant: Tenant) -> Outcome:
    reference = str(tenant.id)
    if result["status"] == "rejected":
        return Outcome.failed(
            f"Rejected: {describe_errors(result.get('errors', {}))}",
            permanent=True,
            tenant=tenant,
            tenant_reference=reference,
        )
    answer = {"status": result["status"], "tenant": tenant.slug, "id": result["id"]}
    if result.get("warnings"):
        answer["warnings"] = result["warnings"]
    return Outcome(ok=True, result=answer, tenant=tenant, tenant_reference=reference)


def _transient(exc: BaseException, *, tenant: Tenant | None = None) -> Outcome:
    return Outcome.failed(
        f"{type(exc).__name__}: {exc}".strip()[:2000],
        permanent=False,
        tenant=tenant,
        tenant_reference=str(tenant.id) if tenant else "",
    )


def read_job_data(raw: str) -> tuple[Any, str]:
    """A job's data field as BullMQ stored it -> (value, "") or (None, why it is unreadable)."""
    try:
        return json.loads(raw), ""
    except (ValueError, TypeError) as exc:
        return None, str(exc)
