"""The club's home dashboard: one registry of figures, read by the admin's home page, REST
(`GET api/v1/dashboard`) and GraphQL (`dashboard`), so the three always show the same numbers.

`crm/` imports no domain app, so each app registers the parts it owns from its
`AppConfig.ready()` (as with `profiles/erasure.py`): a part is a selector that returns a dict
of figures (camelCase, JSON-ready) for one key of one section, and optionally the admin links
behind those figures. `dashboard_build` runs every part in registration order; the page asks
`dashboard_links` for where each tile goes.

A part whose data has never arrived says so (`"missing": "No TeeTime events yet"`) instead of
showing zeros: the page shows the sentence, integrators read the same field.

Sections, in page order: members, atRisk, golf, teeSheet, marketing, dataHealth. The
dead-letter figure of data health is registered here: the dead letters are crm.transport's own.
`golf` is the golf played (rounds, bookings, no-shows: the past, from the booking events);
`teeSheet` is the sheet itself and the people on it (the next 7 days' utilisation, the gap
filler's recovered green fees, capture rate, NPS after the round): other feeds (availability
events, survey answers), each part with its own "missing", so a club with bookings but no
availability feed still sees its golf figures.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

SECTIONS = ("members", "atRisk", "golf", "teeSheet", "marketing", "dataHealth")
SECTION_TITLES = {
    "members": "Members",
    "atRisk": "At risk",
    "golf": "Golf",
    "teeSheet": "Tee sheet and players",
    "marketing": "Marketing",
    "dataHealth": "Data health",
}


@dataclass(frozen=True)
class DashboardContext:
    """What every part needs: the moment, and the club's calendar."""

    now: dt.datetime
    tz: zoneinfo.ZoneInfo
    currency: str

    @property
    def local_now(self) -> dt.datetime:
        return self.now.astimezone(self.tz)

    @property
    def today(self) -> dt.date:
        return self.local_now.date()

    def local_midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz)

    def week_starts(self, weeks: int) -> list[dt.date]:
        """The Mondays (club time) of the last `weeks` weeks, this one last."""
        monday = self.today - dt.timedelta(days=self.today.weekday())
        return [monday - dt.timedelta(days=7 * n) for n in range(weeks - 1, -1, -1)]


Selector = Callable[[DashboardContext], dict[str, Any]]
Links = Callable[[dict[str, Any]], dict[str, str]]


@dataclass(frozen=True)
class DashboardPart:
    section: str
    key: str
    selector: Selector
    links: Links | None = None


_PARTS: dict[tuple[str, str], DashboardPart] = {}


def dashboard_part_register(
    *, section: str, key: str, selector: Selector, links: Links | None = None
) -> None:
    """Register an app's figures under `section` (one of SECTIONS) as `key`. Idempotent:
    `ready()` may run more than once in tests."""
    if section not in SECTIONS:
        raise ValueError(f"Unknown dashboard section {section!r}")
    _PARTS[(section, key)] = DashboardPart(section, key, selector, links)


def dashboard_context(*, now: dt.datetime | None = None) -> DashboardContext:
    from crm.tenants.selectors import tenant_current

    tenant = tenant_current()
    return DashboardContext(
        now=now or timezone.now(),
        tz=zoneinfo.ZoneInfo(tenant.timezone),
        currency=tenant.currency,
    )


def dashboard_build(*, now: dt.datetime | None = None, fresh: bool = False) -> dict[str, Any]:
    """Every figure of the current club, by section and key, as of `now` (default: now).

    The figures as of now are kept `DASHBOARD_CACHE_SECONDS` (30) in the club's cache (keys
    carry the schema), so the page, REST and GraphQL opened together show the same numbers
    and a busy club's staff reloading the page cost one computation a half-minute; the answer
    says when it was computed (`generatedAt`). `fresh` computes anew (and refills the cache).
    """
    from django.conf import settings
    from django.core.cache import cache

    seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 30)
    if now is not None or not seconds:
        return _dashboard_compute(now=now)
    if not fresh:
        cached: dict[str, Any] | None = cache.get(_CACHE_KEY)
        if cached is not None:
            return cached
    data = _dashboard_compute(now=None)
    cache.set(_CACHE_KEY, data, seconds)
    return data


_CACHE_KEY = "dashboard:v2"  # v2: the teeSheet section (a v1 answer lacks it)


def _dashboard_compute(*, now: dt.datetime | None) -> dict[str, Any]:
    from crm.tenants.selectors import tenant_current

    ctx = dashboard_context(now=now)
    tenant = tenant_current()
    result: dict[str, Any] = {
        "club": {"name": tenant.name, "timezone": tenant.timezone, "currency": tenant.currency},
        "generatedAt": ctx.now.isoformat(),
    }
    for section in SECTIONS:
        result[section] = {}
    for part in _PARTS.values():
        result[part.section][part.key] = part.selector(ctx)
    return result


def dashboard_links(data: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """The admin page behind each figure: {section: {key: {figure: url}}}."""
    links: dict[str, dict[str, dict[str, str]]] = {section: {} for section in SECTIONS}
    for part in _PARTS.values():
        if part.links is not None:
            links[part.section][part.key] = part.links(data[part.section][part.key])
    return links


def _dead_letters(ctx: DashboardContext) -> dict[str, Any]:
    from crm.tenants.selectors import tenant_current
    from crm.transport.models import DeadLetter, DeadLetterStatus

    waiting = DeadLetter.objects.filter(
        tenant_id=tenant_current().pk, status=DeadLetterStatus.DEAD
    ).count()
    return {"waiting": waiting}


def _dead_letter_links(data: dict[str, Any]) -> dict[str, str]:
    from django.urls import reverse

    changelist = reverse("club_admin:transport_deadletter_changelist")
    return {"waiting": f"{changelist}?status__exact=DEAD"}


dashboard_part_register(
    section="dataHealth", key="deadLetters", selector=_dead_letters, links=_dead_letter_links
)
