"""The content calendar in Debian's Chromium: a marketing manager of a club with no social
account connected drags a planned post to another day and time in the week view, and the
post's new time is in the database (read in the club's time zone, which is not the
browser's); a move the rules refuse (X's daily limit) snaps back with the reason shown. The page
loads nothing from outside the platform.

The club is a tenant of its own, made and dropped here, so nothing committed outlives the
test. Screenshots go to $CRM_SHOTS_DIR when it is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser import admin_page, chromium, live_server, read_in_thread, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SLUG = "calendar-browser"
EMAIL = "marketing@calendar-browser.example"
PASSWORD = "Fairway-Bunker-2026"
# Not the browser's (UTC) zone: what the calendar shows must be the club's wall time.
CLUB_TZ = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[dict]:
    require_chromium()
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from crm.accounts.services import staff_user_upsert
    from crm.tenants.models import Tenant
    from crm.tenants.services import tenant_create
    from social.services import Actor, VariantInput, post_create

    with django_db_blocker.unblock():
        connection.set_schema_to_public()  # an earlier test may have left a club's schema on
        tenant, _ = tenant_create(
            slug=SLUG, name="Calendar Golf Club", country="US", timezone=str(CLUB_TZ),
            currency="USD",
        )  # fmt: skip
        try:
            today = timezone.now().astimezone(CLUB_TZ).date()
            day = today + timedelta(days=1)
            planned = datetime.combine(day, datetime.min.time()).replace(hour=20)
            with schema_context(tenant.schema_name):
                staff_user_upsert(email=EMAIL, role="MARKETING", password=PASSWORD)
                post = post_create(
                    actor=Actor(label=EMAIL),
                    title="Twilight golf",
                    variants=[
                        VariantInput(network="facebook", text="Twilight green fees from 4pm"),
                        VariantInput(network="x", text="Twilight green fees from 4pm"),
                    ],
                    planned_at=planned,
                )
            os.environ["SOCIAL_X_DAILY_LIMIT"] = "1"
            with live_server(name="calendar") as base_url:
                yield {
                    "base_url": base_url,
                    "schema": tenant.schema_name,
                    "post_id": str(post.id),
                    "day": day,
                    "today": today,
                }
        finally:
            os.environ.pop("SOCIAL_X_DAILY_LIMIT", None)
            connection.set_schema_to_public()
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)


def _shot(page, name: str) -> None:
    folder = os.environ.get("CRM_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _drag(page, source, target_x: float, target_y: float, *, aim=None) -> None:
    """Pointer steps FullCalendar recognises as a drag: grab the event, move sideways, then
    in steps to the target, and drop. With `aim(mirror_text) -> pixels`, the pointer is
    nudged until the drag preview shows the wanted time, as a person watches it; the
    calendar places by the pointer (useEventCenter off), so it is normally right at once."""
    box = source.bounding_box()
    grab = box["y"] + 7
    page.mouse.move(box["x"] + box["width"] / 2, grab)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 8, grab, steps=5)
    page.mouse.move(target_x, target_y, steps=20)
    for _ in range(6 if aim else 0):
        page.wait_for_timeout(150)
        nudge = aim(
            page.evaluate("() => document.querySelector('.fc-event-mirror')?.innerText || ''")
        )
        if not nudge:
            break
        target_y += nudge
        page.mouse.move(target_x, target_y, steps=3)
    page.mouse.up()


def _connect_x_with_two_posts(day) -> str:
    """Connect an X account and schedule two X posts on `day` (07:00, 16:00 club time); with
    X's daily limit at 1 in the served platform, moving the later one next to the earlier is
    refused, whatever the hour. Returns the later post's id."""
    from social.clients.base import TokenSet
    from social.services import Actor, VariantInput, account_connect, post_create, post_schedule

    admin = Actor(label="admin@calendar-browser.example", is_admin=True)
    account = account_connect(
        actor=admin, network="x", remote_id="77", name="@calendargolf",
        tokens=TokenSet(access_token="never-used"),
    )  # fmt: skip
    made = None
    for hour, text in ((7, "Frost delay lifted"), (16, "Course open all day")):
        made = post_create(
            actor=admin, title=text, variants=[VariantInput(account_id=account.id, text=text)]
        )
        post_schedule(
            actor=admin, post=made, mode="at",
            at=datetime.combine(day, datetime.min.time()).replace(hour=hour),
        )  # fmt: skip
    return str(made.id)


def _times(schema: str, post_id: str) -> set[datetime]:
    from social.models import PostVariant

    return read_in_thread(
        lambda: {v.scheduled_at for v in PostVariant.objects.filter(post_id=post_id)},
        schema=schema,
    )


def test_a_marketing_manager_reschedules_a_post_by_dragging_it(club):
    base = club["base_url"]
    outside: list[str] = []
    with (
        chromium() as browser,
        admin_page(browser, base_url=base, club=SLUG, email=EMAIL, password=PASSWORD) as page,
    ):
        page.on("request", lambda r: r.url.startswith(base) or outside.append(r.url))
        page.goto(f"{base}/t/{SLUG}/admin/social/post/")
        page.wait_for_selector("#social-networks")
        assert "Not connected" in page.inner_text("#social-networks")
        _shot(page, "social-posts-no-account.png")
        page.goto(f"{base}/t/{SLUG}/admin/social/socialaccount/")
        _shot(page, "social-accounts-no-account.png")

        # Tall enough for the whole day: no scrolling (or autoscroll) while dragging.
        page.set_viewport_size({"width": 1440, "height": 1800})
        page.goto(f"{base}/t/{SLUG}/admin/social/post/calendar/")
        if club["day"].weekday() == 0:  # tomorrow is in next week (weeks start on Monday)
            page.locator(".fc-next-button").click()
        event = page.locator(f".fc-event[data-object-id='{club['post_id']}']")
        event.wait_for()
        # Shown at the club's 20:00, whatever the browser's zone.
        assert "20:00" in event.inner_text()

        target_day = club["day"]
        column = page.locator(f"td.fc-timegrid-col[data-date='{target_day.isoformat()}']")
        slot = page.locator("td.fc-timegrid-slot-lane[data-time='09:00:00']")
        column_box = column.bounding_box()
        slot_box = slot.bounding_box()
        snap_px = slot_box["height"] / 2  # 30-minute rows, 15-minute snaps

        def aim(mirror: str) -> float:
            shown = datetime.strptime(mirror.split()[0], "%H:%M")
            return -((shown.hour * 60 + shown.minute) - 9 * 60) / 15 * snap_px

        _drag(page, event, column_box["x"] + column_box["width"] / 2, slot_box["y"] + 7, aim=aim)
        page.wait_for_selector("#sc-message.sc-ok")
        _shot(page, "calendar-week.png")
        assert "Moved to" in page.inner_text("#sc-message")
        expected = datetime.combine(target_day, datetime.min.time()).replace(hour=9, tzinfo=CLUB_TZ)
        assert _times(club["schema"], club["post_id"]) == {expected}

        # A move the rules refuse (X's daily limit) snaps back, saying why.
        limited_id = read_in_thread(
            lambda: _connect_x_with_two_posts(club["day"]), schema=club["schema"]
        )
        page.reload()
        if club["day"].weekday() == 0:
            page.locator(".fc-next-button").click()
        limited = page.locator(f".fc-event[data-object-id='{limited_id}']")
        limited.wait_for()
        column_box = column.bounding_box()
        before = _times(club["schema"], limited_id)
        lane = page.locator("td.fc-timegrid-slot-lane[data-time='17:00:00']").bounding_box()
        _drag(page, limited, column_box["x"] + column_box["width"] / 2, lane["y"] + 7, aim=None)
        page.wait_for_selector("#sc-message.sc-error")
        message = page.inner_text("#sc-message")
        assert "Not moved: X: @calendargolf already has 1 post within 24 hours" in message
        assert _times(club["schema"], limited_id) == before
        assert "16:00" in limited.inner_text()  # back where it was
        _shot(page, "calendar-week-refused.png")

        page.get_by_role("button", name="Month").click()
        page.locator(f".fc-event[data-object-id='{club['post_id']}']").wait_for()
        _shot(page, "calendar-month.png")
    assert outside == []
