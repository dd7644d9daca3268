"""The club admin's home page: the dashboard's figures (crm/dashboard.py, the same registry
as REST and GraphQL) laid out as tiles for club staff, in the club's time zone and currency.
Each number links to the list behind it (the links the apps registered) and carries
`data-figure="<section>.<part>.<figure>"`, the path of the same number in the API's answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import Resolver404, resolve

from crm.dashboard import DashboardContext, dashboard_build, dashboard_context, dashboard_links

_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
_STALE_AFTER = dt.timedelta(hours=24)


def money(cents: int, currency: str) -> str:
    amount = f"{Decimal(cents) / 100:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def local_text(value: str | None, ctx: DashboardContext) -> str:
    """An ISO moment as the club reads it: 'today 09:15', 'Mon 7 Dec 09:15'."""
    if not value:
        return ""
    moment = dt.datetime.fromisoformat(value).astimezone(ctx.tz)
    if moment.date() == ctx.today:
        return f"today {moment:%H:%M}"
    if moment.date() == ctx.today - dt.timedelta(days=1):
        return f"yesterday {moment:%H:%M}"
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


def _figure(
    label: str, value: Any, path: str, link: str | None, *, note: str = ""
) -> dict[str, Any]:
    return {"label": label, "value": value, "text": f"{value:,}" if isinstance(value, int) else
            value, "path": path, "link": link, "note": note}  # fmt: skip


def _compare(now: int, before: int) -> str:
    if before == 0:
        return "none the year before" if now else ""
    change = round(100 * (now - before) / before)
    return f"{'+' if change >= 0 else ''}{change}% on a year ago ({before:,})"


def link_opener(request: HttpRequest) -> Callable[[str], bool]:
    """Whether this person may open a link of the dashboard: the admin page behind it asks its
    model admin, as the sidebar does (crm.admin_nav), so STAFF's home page never links to a
    page that would answer "not allowed" (a campaign list, the raw events)."""
    answers: dict[str, bool] = {}

    def can_open(url: str) -> bool:
        path = urlsplit(url).path
        if path not in answers:
            try:
                model_admin = getattr(resolve(path).func, "model_admin", None)
            except Resolver404:
                model_admin = None
            answers[path] = model_admin is None or bool(
                model_admin.has_module_permission(request)
                and model_admin.has_view_permission(request)
            )
        return answers[path]

    return can_open


def _allowed(links: Any, can_open: Callable[[str], bool]) -> Any:
    """The registry's links (nested dicts of URLs) without those this person may not open."""
    if isinstance(links, dict):
        kept = {key: _allowed(value, can_open) for key, value in links.items()}
        return {key: value for key, value in kept.items() if value}
    return links if isinstance(links, str) and can_open(links) else None


def dashboard_page(
    *, now: dt.datetime | None = None, can_open: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The page's tiles: {"data": the API's answer, "tiles": [...], "chart": {...}}; with
    `can_open`, only the links it allows."""
    data = dashboard_build(now=now)
    ctx = dashboard_context(now=dt.datetime.fromisoformat(data["generatedAt"]))
    links = dashboard_links(data)
    if can_open is not None:
        links = {section: _allowed(part, can_open) or {} for section, part in links.items()}
    tiles = []

    m, ml = data["members"]["figures"], links["members"].get("figures", {})
    tiles.append({
        "key": "members", "title": "Members", "missing": m.get("missing"),
        "figures": [] if m.get("missing") else [
            _figure("Active members", m["activeMembers"], "members.figures.activeMembers",
                    ml.get("activeMembers")),
            _figure("New this month", m["newThisMonth"], "members.figures.newThisMonth",
                    ml.get("newThisMonth")),
            _figure("Renewals due in 30 days", m["renewalsDue30d"],
                    "members.figures.renewalsDue30d", ml.get("renewalsDue30d")),
            _figure("Lapsed or resigned this season", m["lapsedThisSeason"],
                    "members.figures.lapsedThisSeason", ml.get("lapsedThisSeason")),
        ],
    })  # fmt: skip

    r, rl = data["atRisk"]["figures"], links["atRisk"].get("figures", {})
    tiles.append({
        "key": "atRisk", "title": "At risk", "missing": r.get("missing"),
        "figures": [] if r.get("missing") else [
            _figure("Churn risk High or Critical", r["highOrCriticalRisk"],
                    "atRisk.figures.highOrCriticalRisk", rl.get("highOrCriticalRisk"),
                    note=f"{r['criticalRisk']:,} Critical"),
            _figure("Paying but not playing", r["payingNotPlaying"],
                    "atRisk.figures.payingNotPlaying", rl.get("payingNotPlaying")),
        ],
        "people": [
            {**row, "link": rl.get(row["customerId"])} for row in r.get("topAtRisk", [])
        ],
        "note": "" if r.get("missing") else (
            f"Scored by: {r['scoredBy']}"
            + (f" v{r['modelVersion']}" if r.get("modelVersion") else "")
            + (" (no churn model yet: too little history)"
               if r["scoredBy"] == "Rule-based score" else "")
            + f"; last scored {local_text(r['scoredAt'], ctx)}"
        ),
        "trend": r.get("trend", []),
    })  # fmt: skip

    g, gl = data["golf"]["figures"], links["golf"].get("figures", {})
    golf_figures = []
    if not g.get("missing"):
        rounds, bookings = g["roundsPlayed"], g["bookings"]
        golf_figures = [
            _figure("Rounds played, last 7 days", rounds["last7Days"],
                    "golf.figures.roundsPlayed.last7Days", gl.get("events"),
                    note=_compare(rounds["last7Days"], rounds["last7DaysYearBefore"])),
            _figure("Rounds played, last 30 days", rounds["last30Days"],
                    "golf.figures.roundsPlayed.last30Days", gl.get("events"),
                    note=_compare(rounds["last30Days"], rounds["last30DaysYearBefore"])),
            _figure("Bookings, last 7 days", bookings["last7Days"],
                    "golf.figures.bookings.last7Days", gl.get("events"),
                    note=_compare(bookings["last7Days"], bookings["last7DaysYearBefore"])),
            _figure("Bookings, last 30 days", bookings["last30Days"],
                    "golf.figures.bookings.last30Days", gl.get("events"),
                    note=_compare(bookings["last30Days"], bookings["last30DaysYearBefore"])),
            _figure("No-shows, last 30 days", g["noShows30Days"], "golf.figures.noShows30Days",
                    gl.get("events")),
            _figure("Payments received, last 30 days",
                    money(g["paymentsReceived30DaysCents"], ctx.currency),
                    "golf.figures.paymentsReceived30DaysCents", None),
        ]  # fmt: skip
    tiles.append({
        "key": "golf", "title": "Golf", "missing": g.get("missing"), "figures": golf_figures,
        "dayParts": g.get("dayParts", []), "busiest": g.get("busiestDayPart"),
    })  # fmt: skip

    tiles.append(_tee_sheet_tile(data["teeSheet"], links["teeSheet"], ctx))

    mk, mkl = data["marketing"], links["marketing"]
    campaign_links, journey_links = mkl.get("campaigns", {}), mkl.get("journeys", {})
    competition_links = mkl.get("competitions", {})
    tiles.append({
        "key": "marketing", "title": "Marketing",
        "campaigns": {**mk["campaigns"], "items": [
            {**c, "link": campaign_links.get(c["id"])} for c in mk["campaigns"]["items"]
        ]},
        "campaignLinks": campaign_links,
        "journeys": {**mk["journeys"], "items": [
            {**j, "link": journey_links.get(j["id"])} for j in mk["journeys"]["items"]
        ]},
        "journeyLinks": journey_links,
        "competitions": [
            {**c, "startsText": local_text(c["startsAt"], ctx),
             "link": competition_links.get(c["id"])}
            for c in mk["competitions"]["items"]
        ],
        "competitionsMissing": mk["competitions"]["missing"],
        "competitionLinks": competition_links,
        "figures": [
            _figure("Posts due in the next 7 days", mk["posts"]["next7Days"],
                    "marketing.posts.next7Days", mkl.get("posts", {}).get("next7Days"),
                    note=f"{mk['posts']['scheduled']:,} scheduled, the rest drafts or awaiting "
                    "approval"),
            _figure("Customers in running journeys", mk["journeys"]["activeEnrolments"],
                    "marketing.journeys.activeEnrolments", mkl.get("journeys", {}).get("all")),
        ],
    })  # fmt: skip

    h, hl = data["dataHealth"], links["dataHealth"]
    events, el = h["events"], hl.get("events", {})
    sources = []
    for row in events["sources"]:
        stale = (
            bool(row["lastReceivedAt"])
            and ctx.now - dt.datetime.fromisoformat(row["lastReceivedAt"]) > _STALE_AFTER
        )
        sources.append({**row, "text": local_text(row["lastReceivedAt"], ctx), "stale": stale,
                        "link": el.get(row["source"])})  # fmt: skip
    tiles.append({
        "key": "dataHealth", "title": "Data health",
        "figures": [
            _figure("Events waiting to be applied", events["pendingEvents"],
                    "dataHealth.events.pendingEvents", el.get("pendingEvents")),
            _figure("Parked events (failed 3 times)", events["parkedEvents"],
                    "dataHealth.events.parkedEvents", el.get("parkedEvents")),
            _figure("Dead letters", h["deadLetters"]["waiting"], "dataHealth.deadLetters.waiting",
                    hl.get("deadLetters", {}).get("waiting")),
        ],
        "sources": sources,
    })  # fmt: skip

    trend = data["atRisk"]["figures"].get("trend", [])
    chart = {
        "labels": [dt.date.fromisoformat(w["weekStart"]).strftime("%d %b") for w in trend],
        "risk": [w["highOrCriticalRisk"] for w in trend],
        "pnp": [w["payingNotPlaying"] for w in trend],
        "dayParts": {
            "labels": [p["label"] for p in data["golf"]["figures"].get("dayParts", [])],
            "values": [p["bookings"] for p in data["golf"]["figures"].get("dayParts", [])],
        },
    }
    return {
        "data": data,
        "tiles": {tile["key"]: tile for tile in tiles},
        "chart": chart,
        "as_of": local_text(data["generatedAt"], ctx),
        "timezone": data["club"]["timezone"],
        "currency": data["club"]["currency"],
    }


def _week_label(monday: str) -> str:
    day = dt.date.fromisoformat(monday)
    return f"{day.day} {day:%b}"


def _bars(
    weeks: list[dict[str, Any]], key: str, *, top: float | None = None
) -> list[dict[str, Any]]:
    """A week's bar for the tile's small CSS chart: height in % of the highest (or `top`)."""
    values = [w[key] for w in weeks if w[key] is not None]
    highest = top or (max(values) if values else 0) or 1
    return [
        {"week": _week_label(w["weekStarting"]), "value": w[key],
         "negative": w[key] is not None and w[key] < 0,
         "height": 0 if w[key] is None else max(2, round(100 * abs(w[key]) / highest))}
        for w in weeks
    ]  # fmt: skip


def _first_active(weeks: list[dict[str, Any]]) -> int:
    """Where the filler's chart starts: its first week with offers (weeks before the club
    turned it on are not weeks it recovered nothing in)."""
    return next((n for n, w in enumerate(weeks) if w["offers"] or w["heldOut"]), 0)


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _tee_sheet_tile(t: dict[str, Any], tl: dict[str, Any], ctx: DashboardContext) -> dict[str, Any]:
    """The teeSheet section: the next 7 days' sheet, the gap filler's recovered green fees,
    capture rate and NPS after the round, each part saying which data has not arrived."""
    health, hl = t["health"], tl.get("health", {})
    filler, fl = t["filler"], tl.get("filler", {})
    capture, cl = t["captureRate"], tl.get("captureRate", {})
    nps, nl = t["nps"], tl.get("nps", {})
    tile: dict[str, Any] = {"key": "teeSheet", "title": "Tee sheet and players"}
    tile["health"] = {"missing": health.get("missing"), "link": hl.get("slots")}
    if not health.get("missing"):
        tile["health"].update(
            utilisation=health["utilisation"],
            figures=[
                _figure("Places booked, next 7 days", health["booked"], "teeSheet.health.booked",
                        hl.get("slots"), note=f"of {health['capacity']:,} on the sheet"),
                _figure("Free places, next 7 days", health["freePlaces"],
                        "teeSheet.health.freePlaces", hl.get("slots")),
                _figure("Gaps the filler is working on", health["openGaps"],
                        "teeSheet.health.openGaps", hl.get("openGaps"),
                        note=f"{health['openGapPlaces']:,} free places within its horizon"),
            ],
            parts=[
                {**p, "index": n, "width": round(p["utilisation"] or 0)}
                for n, p in enumerate(health["utilisation7Days"])
            ],
        )  # fmt: skip
    tile["filler"] = {"missing": filler.get("missing"), "link": fl.get("offers")}
    if not filler.get("missing"):
        tile["filler"].update(
            figures=[
                _figure("Offers sent", filler["offers"], "teeSheet.filler.offers",
                        fl.get("offers")),
                _figure("Bookings from offers", filler["bookings"], "teeSheet.filler.bookings",
                        fl.get("bookings"),
                        note=f"{filler['conversionRate']:.1f}% of offers"
                        if filler["conversionRate"] is not None else ""),
                _figure("Green fees recovered", money(filler["revenueRecoveredCents"],
                        ctx.currency), "teeSheet.filler.revenueRecoveredCents", fl.get("bookings")),
            ],
            lift=filler["liftPoints"],
            liftText=None if filler["liftPoints"] is None else
            f"{_signed(round(filler['liftPoints']))} points",
            liftNote=filler["liftNote"],
            weeks=[{**w, "week": bar["week"], "height": bar["height"],
                    "money": money(w["revenueRecoveredCents"], ctx.currency)}
                   for w, bar in zip(filler["weeks"],
                                     _bars(filler["weeks"], "revenueRecoveredCents"), strict=True)
                   ][_first_active(filler["weeks"]):],
        )  # fmt: skip
    tile["capture"] = {"missing": capture.get("missing")}
    if not capture.get("missing"):
        tile["capture"].update(
            rate=capture["captureRate"],
            figures=[
                _figure("Players named", capture["named"], "teeSheet.captureRate.named", None,
                        note=f"of {capture['players']:,} players on the sheet"),
                _figure("Guests not named yet", capture["unnamedGuests"],
                        "teeSheet.captureRate.unnamedGuests", cl.get("unnamedGuests"),
                        note="their bookers get the guest form"),
            ],
            bars=_bars(capture["weeks"], "captureRate", top=100),
        )  # fmt: skip
    tile["nps"] = {"missing": nps.get("missing"), "link": nl.get("answers")}
    if not nps.get("missing"):
        tile["nps"].update(
            value=nps["nps"], text=_signed(nps["nps"]),
            figures=[
                _figure("Answers", nps["answers"], "teeSheet.nps.answers", nl.get("answers")),
                _figure("Promoters (9-10)", nps["promoters"], "teeSheet.nps.promoters",
                        nl.get("promoters")),
                _figure("Detractors (0-6)", nps["detractors"], "teeSheet.nps.detractors",
                        nl.get("detractors"), note="each one a task for the manager"),
            ],
            weeks=[{**w, **bar, "text": "" if w["nps"] is None else _signed(w["nps"])}
                   for w, bar in zip(nps["weeks"], _bars(nps["weeks"], "nps", top=100),
                                     strict=True)],
            dayParts=[{**p, "index": n, "text": "" if p["nps"] is None else _signed(p["nps"])}
                      for n, p in enumerate(nps["dayParts"])],
        )  # fmt: skip
    return tile


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """django-unfold's DASHBOARD_CALLBACK for the club admin's home page."""
    return {**context, "dashboard": dashboard_page(can_open=link_opener(request))}
