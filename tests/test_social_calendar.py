"""Social without a connected account (drafts, edits, approval; scheduling says which network
is missing), which networks are configured and connected, the content calendar (REST,
GraphQL, the admin's feed and drag), rescheduling through the services (limits and approval
apply), the club's best posting times, and the demo club's planned week."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from social.models import (
    CompetitionPromotion,
    Post,
    PostVariant,
    PromotionItem,
    SocialSettings,
)
from social.selectors import best_posting_times
from social.services import (
    Actor,
    VariantInput,
    post_create,
    post_reschedule,
    post_schedule,
)
from tests.conftest import error_of
from tests.test_social_api import connect_accounts, login

ADMIN = Actor(label="admin@test", is_admin=True)
MARKETING = Actor(label="marketing@test", is_admin=False)
DUBLIN = ZoneInfo("Europe/Dublin")


def gql(client, tenant, query, variables=None):
    response = client.post(
        f"/t/{tenant.slug}/graphql",
        data={"query": query, "variables": variables or {}},
        content_type="application/json",
    )
    return response.json()


def _future(days: int, hour: int = 10, minute: int = 0) -> datetime:
    """A club wall time some days ahead (naive: the services read it in the club's zone)."""
    day = timezone.now().astimezone(DUBLIN).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute)


# --- Item 1: social without a connected account -------------------------------------------------


def test_a_draft_is_written_edited_and_approved_with_no_account_then_scheduling_names_the_network(
    clubs, api, make_key
):
    social = api(make_key(clubs.alpha, "crm:social"))
    created = social.post(
        "/t/alpha-golf/api/v1/social/posts",
        data={
            "title": "Open week",
            "variants": [
                {"network": "x", "text": "Open week from Monday"},
                {"network": "facebook", "text": "Open week starts Monday"},
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    post = created.json()["data"]
    assert {(v["network"], v["accountId"], v["status"]) for v in post["variants"]} == {
        ("x", None, "DRAFT"),
        ("facebook", None, "DRAFT"),
    }
    edited = social.patch(
        f"/t/alpha-golf/api/v1/social/posts/{post['id']}",
        data={"variants": [{"network": "x", "text": "Open week: all welcome"}]},
        content_type="application/json",
    )
    assert edited.status_code == 200
    assert [v["text"] for v in edited.json()["data"]["variants"]] == ["Open week: all welcome"]

    asked = social.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/request-approval")
    assert asked.json()["data"]["approvalStatus"] == "PENDING"
    again = social.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/request-approval")
    assert error_of(again)["details"] == {
        "nonFieldErrors": ["This post is already waiting for approval."]
    }
    # Approving needs crm:admin, and no account.
    assert social.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/approve").status_code == 403
    admin = api(make_key(clubs.alpha, "crm:social,crm:admin"))
    approved = admin.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["data"]["approvalStatus"] == "APPROVED"
    assert {v["status"] for v in approved.json()["data"]["variants"]} == {"DRAFT"}

    refused = social.post(
        f"/t/alpha-golf/api/v1/social/posts/{post['id']}/schedule",
        data={"mode": "queue"},
        content_type="application/json",
    )
    details = error_of(refused)["details"]
    assert list(details) == ["variants.x.accountId"]
    assert details["variants.x.accountId"][0].startswith(
        "X: no X account is connected, so this post can be saved, planned and approved"
    )
    assert "Connect X" in details["variants.x.accountId"][0]
    with schema_context(clubs.alpha.schema_name):
        assert PostVariant.objects.get(post_id=post["id"]).status == "DRAFT"  # nothing half-made

    # Once an account is connected, the approved draft is scheduled without waiting again,
    # even with approval on for MARKETING.
    connect_accounts(clubs.alpha)
    with schema_context(clubs.alpha.schema_name):
        SocialSettings.objects.update_or_create(id=1, defaults={"approval_required": True})
    scheduled = social.post(
        f"/t/alpha-golf/api/v1/social/posts/{post['id']}/schedule",
        data={"mode": "queue"},
        content_type="application/json",
    )
    assert scheduled.status_code == 200, scheduled.content
    variant = scheduled.json()["data"]["variants"][0]
    assert variant["status"] == "SCHEDULED" and variant["accountId"] is not None


def test_variant_input_needs_an_account_or_a_known_network(clubs, api, make_key):
    accounts = connect_accounts(clubs.alpha)
    social = api(make_key(clubs.alpha, "crm:social"))

    def create(variants):
        return social.post(
            "/t/alpha-golf/api/v1/social/posts",
            data={"variants": variants},
            content_type="application/json",
        )

    assert error_of(create([{"text": "hi"}]))["details"] == {
        "variants[0].network": ["Give an accountId or a network."]
    }
    assert list(error_of(create([{"network": "myspace", "text": "hi"}]))["details"]) == [
        "variants[0].network"
    ]
    mismatch = create([{"accountId": str(accounts["x"].id), "network": "facebook"}])
    assert error_of(mismatch)["details"] == {
        "variants[0].network": ["The account @club is on X, not facebook."]
    }
    twice = create([{"network": "x", "text": "a"}, {"accountId": str(accounts["x"].id)}])
    assert error_of(twice)["details"] == {
        "variants[1].network": ["X: only one account per network in a post."]
    }
    with schema_context(clubs.alpha.schema_name):
        assert not Post.objects.exists()
    # A network with exactly one connected account gets that account.
    made = create([{"network": "facebook", "text": "hello"}])
    assert made.json()["data"]["variants"][0]["accountId"] == str(accounts["facebook"].id)


def test_networks_say_what_is_configured_and_connected_in_rest_graphql_and_admin(
    clubs, api, make_key, make_staff
):
    connect_accounts(clubs.alpha)  # x and facebook
    key = make_key(clubs.alpha, "crm:social")
    with override_settings(SOCIAL_FACEBOOK_APP_ID="", SOCIAL_FACEBOOK_APP_SECRET=""):
        listing = api(key).get("/t/alpha-golf/api/v1/social/networks")
        states = {s["network"]: s for s in listing.json()["data"]}
        graph = gql(api(key), clubs.alpha, "{ socialNetworks { network configured connected } }")
        admin = login(api, make_staff, clubs.alpha, "ADMIN")
        page = admin.get("/t/alpha-golf/admin/social/socialaccount/").content.decode()
    assert {n: (s["configured"], s["connected"]) for n, s in states.items()} == {
        "facebook": (False, True),
        "instagram": (False, False),
        "x": (True, True),
    }
    assert "SOCIAL_FACEBOOK_APP_ID" in states["instagram"]["howToConnect"]
    assert {
        (s["network"], s["configured"], s["connected"]) for s in graph["data"]["socialNetworks"]
    } == {("facebook", False, True), ("instagram", False, False), ("x", True, True)}
    assert 'data-network="instagram"' in page and "Not set up" in page
    # No "Connect" link for a network without app credentials.
    assert "/admin/social/socialaccount/connect/instagram/" not in page
    assert "/admin/social/socialaccount/connect/x/" in page


@override_settings(SOCIAL_X_CLIENT_ID="", SOCIAL_X_CLIENT_SECRET="")
def test_connect_without_app_credentials_says_so_instead_of_leaving(clubs, api, make_staff):
    client = login(api, make_staff, clubs.alpha, "ADMIN")
    response = client.get("/t/alpha-golf/admin/social/socialaccount/connect/x/", follow=True)
    assert response.redirect_chain == [("/t/alpha-golf/admin/social/socialaccount/", 302)]
    page = response.content.decode()
    assert "X is not set up on this platform yet" in page
    assert "twitter.com" not in page


def test_the_admin_composes_a_draft_for_a_network_with_no_account(clubs, api, make_staff):
    client = login(api, make_staff, clubs.alpha, "MARKETING")
    form = client.get("/t/alpha-golf/admin/social/post/add/").content.decode()
    assert "X (not connected: draft only)" in form and 'id="social-networks"' in form
    planned = _future(3, 9, 30)
    response = client.post(
        "/t/alpha-golf/admin/social/post/add/",
        {
            "title": "Junior coaching",
            "targets": ["network:x", "network:facebook"],
            "text": "Junior coaching restarts Saturday",
            "mode": "approval",
            "at": planned.strftime("%Y-%m-%d %H:%M"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(clubs.alpha.schema_name):
        post = Post.objects.get(title="Junior coaching")
        variants = list(post.variants.all())
    assert post.approval_status == "PENDING"
    assert {(v.network, v.status, v.account_id) for v in variants} == {
        ("x", "DRAFT", None),
        ("facebook", "DRAFT", None),
    }
    assert {v.scheduled_at.astimezone(DUBLIN).replace(tzinfo=None) for v in variants} == {planned}
    # Scheduling from the post's page says which network is missing.
    done = client.post(
        f"/t/alpha-golf/admin/social/post/{post.id}/act/schedule_planned/", follow=True
    )
    assert "no Facebook account is connected" in done.content.decode()


# --- Rescheduling through the services --------------------------------------------------------


def test_reschedule_moves_drafts_and_scheduled_posts_within_the_rules(clubs):
    accounts = connect_accounts(clubs.alpha)
    with schema_context(clubs.alpha.schema_name):
        draft = post_create(
            actor=MARKETING, variants=[VariantInput(network="instagram", text="Soon")],
            planned_at=_future(2),
        )  # fmt: skip
        post_reschedule(actor=MARKETING, post=draft, at=_future(3, 14))
        moved = PostVariant.objects.get(post=draft)
        assert (moved.status, moved.scheduled_at.astimezone(DUBLIN).hour) == ("DRAFT", 14)

        post = post_create(
            actor=ADMIN, variants=[VariantInput(account_id=accounts["x"].id, text="Hello")]
        )
        post_schedule(actor=ADMIN, post=post, mode="at", at=_future(2))
        with pytest.raises(Exception) as past:
            post_reschedule(actor=ADMIN, post=post, at=_future(-2))
        assert past.value.message_dict == {
            "at": ["That time has passed; choose a time from now on."]
        }
        post_reschedule(actor=ADMIN, post=post, at=_future(4, 8, 15))
        variant = PostVariant.objects.get(post=post)
        assert variant.status == "SCHEDULED"
        assert variant.scheduled_at.astimezone(DUBLIN).replace(tzinfo=None) == _future(4, 8, 15)

        # Approval on: MARKETING's move makes it wait for an ADMIN again.
        SocialSettings.objects.update_or_create(id=1, defaults={"approval_required": True})
        post_reschedule(actor=MARKETING, post=post, at=_future(5))
        assert PostVariant.objects.get(post=post).status == "PENDING_APPROVAL"
        assert Post.objects.get(id=post.id).approval_status == "PENDING"

        # The network's daily limit applies to the new time.
        other = post_create(
            actor=ADMIN, variants=[VariantInput(account_id=accounts["x"].id, text="Other")]
        )
        post_schedule(actor=ADMIN, post=other, mode="at", at=_future(6, 9))
        with (
            override_settings(SOCIAL_DAILY_LIMITS={"x": 1, "facebook": 1, "instagram": 1}),
            pytest.raises(Exception) as limited,
        ):
            post_reschedule(actor=ADMIN, post=other, at=_future(5, 12))
        assert limited.value.message_dict == {
            "variants.x.at": [
                "X: @club already has 1 post within 24 hours of that time, the most X allows."
            ]
        }
        # A published post does not move.
        PostVariant.objects.filter(post=other).update(
            status="PUBLISHED", published_at=timezone.now()
        )
        with pytest.raises(Exception) as gone:
            post_reschedule(actor=ADMIN, post=other, at=_future(7))
        assert gone.value.message_dict == {"at": ["X: published, so it can no longer be moved."]}


def test_reschedule_api_and_graphql_bad_input(clubs, api, make_key):
    social = api(make_key(clubs.alpha, "crm:social"))
    with schema_context(clubs.alpha.schema_name):
        post = post_create(actor=ADMIN, variants=[VariantInput(network="x", text="Hi")])
    url = f"/t/alpha-golf/api/v1/social/posts/{post.id}/reschedule"
    assert error_of(social.post(url, data={}, content_type="application/json"))["details"] == {
        "at": ["This field is required."]
    }
    bad = social.post(url, data={"at": "next tuesday"}, content_type="application/json")
    assert error_of(bad)["details"] == {"at": ["Not a date and time (ISO 8601)."]}
    unknown = social.post(
        url, data={"at": _future(2).isoformat(), "colour": "red"}, content_type="application/json"
    )
    assert "colour" in error_of(unknown)["details"]
    not_part = social.post(
        url,
        data={"at": _future(2).isoformat(), "networks": ["facebook"]},
        content_type="application/json",
    )
    assert error_of(not_part)["details"] == {"networks": ["This post has no part for facebook."]}
    ok = social.post(url, data={"at": _future(2, 11).isoformat()}, content_type="application/json")
    assert ok.status_code == 200
    assert ok.json()["data"]["variants"][0]["scheduledAt"] is not None

    result = gql(
        social,
        clubs.alpha,
        """mutation($id: UUID!, $at: DateTime!) { rescheduleSocialPost(id: $id, at: $at) {
             post { id } errors { field message } } }""",
        {"id": str(post.id), "at": "2001-01-01T10:00:00"},
    )
    assert result["data"]["rescheduleSocialPost"]["errors"] == [
        {"field": "at", "message": "That time has passed; choose a time from now on."}
    ]


# --- The calendar -------------------------------------------------------------------------------


def _calendar_rows(tenant, accounts=None):
    """A planned draft, a scheduled post, a promotion item not handed over and a campaign."""
    from campaigns.models import Campaign

    with schema_context(tenant.schema_name):
        draft = post_create(
            actor=ADMIN, title="Twilight golf",
            variants=[VariantInput(network="x", text="Twilight"),
                      VariantInput(network="facebook", text="Twilight")],
            planned_at=_future(1, 18),
        )  # fmt: skip
        plan = CompetitionPromotion.objects.create(competition_id="comp-1", name="Spring Open")
        item = PromotionItem.objects.create(
            promotion=plan, key="reminder-3", kind="REMINDER", channel="POST",
            scheduled_for=_future(2, 10).replace(tzinfo=DUBLIN),
        )  # fmt: skip
        campaign = Campaign.objects.create(
            name="December newsletter", status="SCHEDULED", channels=["EMAIL"],
            scheduled_at=_future(3, 9).replace(tzinfo=DUBLIN),
        )  # fmt: skip
    return draft, item, campaign


def test_calendar_lists_posts_promotion_items_and_campaign_sends_in_club_time(clubs, api, make_key):
    draft, item, campaign = _calendar_rows(clubs.alpha)
    key = make_key(clubs.alpha, "crm:social")
    start = _future(0, 0).date().isoformat()
    end = _future(7, 0).date().isoformat()
    response = api(key).get(f"/t/alpha-golf/api/v1/social/calendar?from={start}&to={end}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["meta"] == {"total": 3, "skip": 0, "take": 25, "hasMore": False}
    rows = body["data"]
    assert [(r["kind"], r["id"]) for r in rows] == [
        ("post", str(draft.id)),
        ("promotion_item", str(item.id)),
        ("campaign_send", str(campaign.id)),
    ]
    first = rows[0]
    assert first["title"] == "Twilight golf · Facebook, X"
    assert first["statusLabel"] == "Draft; no account yet: Facebook, X"
    assert first["start"] == _future(1, 18).replace(tzinfo=DUBLIN).isoformat()
    assert first["movable"] is True and first["networks"] == ["facebook", "x"]
    assert first["link"].endswith(f"/admin/social/post/{draft.id}/change/")
    assert rows[1]["title"] == "Spring Open: Reminder (Social post)"
    assert rows[1]["statusLabel"] == "Planned" and rows[1]["kindLabel"] == "Competition promotion"
    assert rows[2]["title"] == "December newsletter (Email)"
    assert rows[2]["statusLabel"] == "Scheduled" and rows[2]["movable"] is False

    graph = gql(
        api(key),
        clubs.alpha,
        "query($f: String!, $t: String!) { socialCalendar(from: $f, to: $t) "
        "{ kind id start statusLabel } }",
        {"f": start, "t": end},
    )
    assert [(r["kind"], r["id"], r["start"]) for r in graph["data"]["socialCalendar"]] == [
        (r["kind"], r["id"], r["start"]) for r in rows
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("to=2026-01-31", "from", "Give a date (YYYY-MM-DD) or a date and time (ISO 8601)."),
        ("from=2026-01-01", "to", "Give a date (YYYY-MM-DD) or a date and time (ISO 8601)."),
        ("from=yesterday&to=2026-01-31", "from", "'yesterday' is not a date or a date and time."),
        ("from=2026-02-30&to=2026-03-31", "from", "'2026-02-30' is not a date or a date and time."),
        ("from=2026-02-01&to=2026-01-01", "to", "'to' must be after 'from'."),
        ("from=2026-01-01&to=2026-06-30", "to", "At most 92 days at a time; ask for a shorter range."),
    ],
)  # fmt: skip
def test_calendar_bad_input_is_a_400_naming_the_field(clubs, api, make_key, query, field, message):
    client = api(make_key(clubs.alpha, "crm:social"))
    response = client.get(f"/t/alpha-golf/api/v1/social/calendar?{query}")
    assert response.status_code == 400
    assert error_of(response)["details"] == {field: [message]}
    params = dict(part.split("=") for part in query.split("&"))
    graph = gql(
        client,
        clubs.alpha,
        "query($f: String!, $t: String!) { socialCalendar(from: $f, to: $t) { id } }",
        {"f": params.get("from", ""), "t": params.get("to", "")},
    )
    assert graph["errors"][0]["extensions"]["field"] == field


def test_club_a_sees_nothing_of_club_bs_calendar_or_networks(clubs, api, make_key):
    _calendar_rows(clubs.bravo)
    client = api(make_key(clubs.alpha, "crm:social"))
    start = _future(0, 0).date().isoformat()
    end = _future(7, 0).date().isoformat()
    own = client.get(f"/t/alpha-golf/api/v1/social/calendar?from={start}&to={end}")
    assert own.json()["data"] == []
    for path in (
        f"/t/bravo-golf/api/v1/social/calendar?from={start}&to={end}",
        f"/t/{clubs.bravo.id}/api/v1/social/calendar?from={start}&to={end}",
        "/t/bravo-golf/api/v1/social/networks",
    ):
        response = client.get(path)
        assert response.status_code in (401, 403, 404)
        assert "Twilight" not in response.content.decode()


def test_admin_calendar_page_feed_and_drag(clubs, api, make_staff):
    draft, _item, _campaign = _calendar_rows(clubs.alpha)
    client = login(api, make_staff, clubs.alpha, "MARKETING")
    page = client.get("/t/alpha-golf/admin/social/post/calendar/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "social/vendor/fullcalendar/index.global.min.js" in html
    assert "Not enough to go on yet" in html and "Europe/Dublin" in html
    start = _future(0, 0).date().isoformat()
    end = _future(7, 0).date().isoformat()
    feed = client.get(
        f"/t/alpha-golf/admin/social/post/calendar/feed/?start={start}T00:00:00Z&end={end}T00:00:00Z"
    ).json()
    assert [e["extendedProps"]["kind"] for e in feed] == ["post", "promotion_item", "campaign_send"]
    # Wall time, no offset: FullCalendar shows the club's time in any browser.
    assert feed[0]["start"] == _future(1, 18).isoformat()
    assert [e["editable"] for e in feed] == [True, False, False]

    move = "/t/alpha-golf/admin/social/post/calendar/move/"
    target = _future(2, 7, 45)
    ok = client.post(
        move,
        data={"postId": str(draft.id), "networks": ["facebook", "x"], "start": target.isoformat()},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    with schema_context(clubs.alpha.schema_name):
        times = {v.scheduled_at for v in PostVariant.objects.filter(post=draft)}
    assert times == {target.replace(tzinfo=DUBLIN)}
    refused = client.post(
        move,
        data={"postId": str(draft.id), "start": _future(-3).isoformat()},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json() == {"message": "That time has passed; choose a time from now on."}
    for body in ("[]", '{"postId": "nope", "start": "x"}', f'{{"postId": "{draft.id}"}}'):
        response = client.post(move, data=body, content_type="application/json")
        assert response.status_code in (400, 404)
    assert (
        client.get(
            "/t/alpha-golf/admin/social/post/calendar/feed/?start=bad&end=2026-01-01"
        ).status_code
        == 400
    )


# --- Best posting times -------------------------------------------------------------------------


def test_best_posting_times_from_the_clubs_own_engagement(clubs):
    accounts = connect_accounts(clubs.alpha)
    with schema_context(clubs.alpha.schema_name):
        assert best_posting_times(tz=DUBLIN).message.endswith("(in the last year: 0).")
        # Tuesdays 18:00 club time do best, Mondays 09:00 worst; one Sunday alone is ignored.
        base = timezone.now().astimezone(DUBLIN) - timedelta(days=60)
        monday = base - timedelta(days=base.weekday())
        rows = []
        for week in range(4):
            for weekday, hour, likes in ((0, 9, 2), (1, 18, 30), (3, 12, 10)):
                moment = (monday + timedelta(weeks=week, days=weekday)).replace(
                    hour=hour, minute=5, second=0, microsecond=0
                )
                rows.append((moment, likes + week))
        rows.append(((monday + timedelta(days=6)).replace(hour=20), 500))
        for index, (moment, likes) in enumerate(rows):
            post = post_create(
                actor=ADMIN, variants=[VariantInput(account_id=accounts["x"].id, text=f"{index}")]
            )
            PostVariant.objects.filter(post=post).update(
                status="PUBLISHED", published_at=moment, likes=likes, comments=1, shares=0,
                metrics_fetched_at=moment + timedelta(days=1),
            )  # fmt: skip
        best = best_posting_times(tz=DUBLIN)
    assert best.posts_measured == 13
    assert [slot["label"] for slot in best.slots] == [
        "Tuesday 18:00",
        "Thursday 12:00",
        "Monday 09:00",
    ]
    assert best.slots[0]["averageInteractions"] == 32.5 and best.slots[0]["posts"] == 4


# --- Demo ---------------------------------------------------------------------------------------


def test_the_demo_week_is_planned_once(clubs):
    from social.demo import demo_social_week

    with schema_context(clubs.alpha.schema_name):
        assert demo_social_week() == 7
        assert demo_social_week() == 0
        posts = Post.objects.filter(origin="demo")
        assert posts.count() == 7
        assert sorted(p.approval_status for p in posts) == [
            "APPROVED", "NOT_NEEDED", "NOT_NEEDED", "NOT_NEEDED", "NOT_NEEDED", "NOT_NEEDED",
            "PENDING",
        ]  # fmt: skip
        variants = PostVariant.objects.filter(post__origin="demo")
        assert variants.count() == 14
        assert not variants.exclude(status="DRAFT").exists()
        assert not variants.filter(scheduled_at__isnull=True).exists()


def test_the_admin_edits_a_drafts_texts_with_no_account(clubs, api, make_staff):
    with schema_context(clubs.alpha.schema_name):
        post = post_create(
            actor=ADMIN, title="Pro shop sale",
            variants=[VariantInput(network="x", text="Sale"),
                      VariantInput(network="facebook", text="Sale")],
            planned_at=_future(2, 13),
        )  # fmt: skip
    client = login(api, make_staff, clubs.alpha, "MARKETING")
    url = f"/t/alpha-golf/admin/social/post/{post.id}/change/"
    page = client.get(url)
    assert "Text for X" in page.content.decode()
    assert "Text for Facebook Page" in page.content.decode()
    inline = page.context["inline_admin_formsets"][0].formset
    management = {
        f"{inline.prefix}-{key}": value for key, value in inline.management_form.initial.items()
    }
    forms_data = {
        f"{inline.prefix}-{index}-id": str(form.instance.pk)
        for index, form in enumerate(inline.forms)
    }
    response = client.post(
        url,
        {
            "title": "Winter sale", "text_x": "Winter sale: 20% off", "text_facebook": "Sale",
            **management, **forms_data, f"{inline.prefix}-{0}-post": str(post.id),
            f"{inline.prefix}-{1}-post": str(post.id),
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(clubs.alpha.schema_name):
        post.refresh_from_db()
        texts = dict(PostVariant.objects.filter(post=post).values_list("network", "text"))
        planned = {v.scheduled_at for v in PostVariant.objects.filter(post=post)}
    assert post.title == "Winter sale"
    assert texts == {"x": "Winter sale: 20% off", "facebook": "Sale"}
    assert planned == {_future(2, 13).replace(tzinfo=DUBLIN)}  # keeps its calendar place
