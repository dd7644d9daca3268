"""The demo club's week of planned social posts (load_demo_data), so the content calendar
is not empty at first sight. Made through the services, as drafts: no account is needed.
Re-runs add nothing (each post has a fixed origin key)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from crm.tenants.selectors import tenant_current
from social.models import Post
from social.services import Actor, VariantInput, post_approve, post_create, post_request_approval

DEMO_ACTOR = Actor(label="demo data", is_admin=True)

# (days from today, club time, title, text, link path, what happens to it after saving)
WEEK = (
    (1, time(9, 0), "Course update", "Greens are running fast this week: all 18 holes open, "
     "buggies allowed from 8am. See you on the first tee!", "", ""),
    (2, time(12, 30), "Junior coaching", "Junior coaching restarts Saturday at 10:00. Ages 8 "
     "to 16, all abilities, clubs provided. Book a place at the pro shop.", "/juniors", "ask"),
    (3, time(18, 0), "Twilight golf", "Twilight green fees from 4pm all week: 9 holes and a "
     "drink in the clubhouse afterwards.", "/twilight", ""),
    (4, time(9, 0), "Members' medal", "Entries are open for the monthly medal this Sunday. "
     "Sign up on the timesheet before Friday noon.", "/competitions", "approve"),
    (5, time(13, 0), "Pro shop sale", "Winter sale in the pro shop: 20% off waterproofs and "
     "gloves until Sunday.", "", ""),
    (6, time(8, 30), "Weekend tee times", "A few weekend tee times are still free on Saturday "
     "afternoon. Bring a friend!", "/book", ""),
    (7, time(17, 0), "Clubhouse dinner", "Sunday carvery in the clubhouse from 5pm. Members "
     "and guests welcome; book a table at the bar.", "", ""),
)  # fmt: skip


def demo_social_week() -> int:
    """A draft post for Facebook and X on each of the next seven days; returns how many were
    made (0 on a re-run). One is waiting for approval and one is approved, as in real use."""
    tz = ZoneInfo(tenant_current().timezone or "UTC")
    today = timezone.now().astimezone(tz).date()
    site = f"https://www.{tenant_current().slug}.example"
    made = 0
    for days, at, title, text, path, then in WEEK:
        key = f"demo:social-week:{days}"
        if Post.objects.filter(origin_key=key).exists():
            continue
        link = f"{site}{path}" if path else ""
        post = post_create(
            actor=DEMO_ACTOR,
            title=title,
            variants=[
                VariantInput(network="facebook", text=text, link=link),
                VariantInput(network="x", text=text, link=link),
            ],
            origin="demo",
            origin_key=key,
            planned_at=datetime.combine(today + timedelta(days=days), at),
        )
        if then in ("ask", "approve"):
            post_request_approval(actor=DEMO_ACTOR, post=post)
        if then == "approve":
            post_approve(actor=DEMO_ACTOR, post=post)
        made += 1
    return made
