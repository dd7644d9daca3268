"""Social Publisher: publishing through the real tweepy and python-facebook-api clients, with
the networks faked at the HTTP boundary (`responses`) and the exact requests asserted.

Covers: X media upload + tweet, Facebook feed and photos, Instagram container + media_publish;
429, 500 and malformed answers; a worker dying after the network answered; token refresh,
expiry and revocation; daily limits; engagement cadence; validation per network."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from social.clients.base import TokenSet
from social.crypto import token_decrypt
from social.models import (
    AccountStatus,
    AttemptState,
    PostVariant,
    SocialAccount,
    SocialSettings,
    VariantStatus,
)
from social.publishing import (
    account_check,
    engagement_fetch,
    next_metrics_due,
    variant_publish,
    variants_due_ids,
)
from social.services import (
    Actor,
    VariantInput,
    account_connect,
    image_upload,
    post_approve,
    post_create,
    post_schedule,
    queue_next_slot,
)

GRAPH = "https://graph.facebook.com/v23.0"
X_API = "https://api.twitter.com/2"
X_MEDIA = "https://api.x.com/2/media/upload"
X_TOKEN_URL = "https://api.twitter.com/2/oauth2/token"
ADMIN = Actor(label="admin@test", is_admin=True)
MARKETING = Actor(label="marketing@test", is_admin=False)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500


@pytest.fixture
def alpha(clubs):
    with schema_context(clubs.alpha.schema_name):
        yield clubs.alpha


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def x_account(**overrides) -> SocialAccount:
    tokens = overrides.pop(
        "tokens",
        TokenSet(
            access_token="x-access-1",
            refresh_token="x-refresh-1",
            expires_at=timezone.now() + timedelta(hours=2),
        ),
    )
    return account_connect(
        actor=ADMIN, network="x", remote_id="2244994945", name="@alphagolf",
        username="alphagolf", tokens=tokens,
    )  # fmt: skip


def fb_account() -> SocialAccount:
    return account_connect(
        actor=ADMIN, network="facebook", remote_id="1001", name="Alpha Golf Club",
        tokens=TokenSet(access_token="page-token-1"),
    )  # fmt: skip


def ig_account() -> SocialAccount:
    return account_connect(
        actor=ADMIN, network="instagram", remote_id="17841400000000001", name="@alphagolf",
        username="alphagolf", linked_page_id="1001", tokens=TokenSet(access_token="page-token-1"),
    )  # fmt: skip


def scheduled_variant(account: SocialAccount, *, text="Spring Open entries are open!", link="",
                      images=(), actor=ADMIN) -> PostVariant:  # fmt: skip
    post = post_create(
        actor=actor,
        variants=[
            VariantInput(account_id=account.id, text=text, link=link, image_ids=list(images))
        ],
    )
    post_schedule(actor=actor, post=post, mode="now")
    return post.variants.get()


def proof(token: str, secret: str = "fb-secret-1") -> str:  # noqa: S107 (the fake app secret)
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def form(request) -> dict[str, list[str]]:
    body = request.body
    return parse_qs(body.decode() if isinstance(body, bytes) else body)


def query(request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


# --- X -------------------------------------------------------------------------------------------


def test_x_uploads_each_image_through_v2_then_creates_the_tweet(alpha, fake):
    account = x_account()
    images = [
        image_upload(actor=ADMIN, filename="tee.jpg", content=JPEG),
        image_upload(actor=ADMIN, filename="green.png", content=PNG),
    ]
    variant = scheduled_variant(
        account, text="Spring Open: enter now", link="https://alpha.example/open",
        images=[i.id for i in images],
    )  # fmt: skip
    fake.post(X_MEDIA, json={"data": {"id": "1880000000000000001", "media_key": "3_1"}})
    fake.post(X_MEDIA, json={"data": {"id": "1880000000000000002", "media_key": "3_2"}})
    fake.post(f"{X_API}/tweets", json={"data": {"id": "1890000000000000009", "text": "…"}})

    assert variant_publish(variant_id=variant.id).result == "published"

    uploads = [c.request for c in fake.calls if c.request.url == X_MEDIA]
    assert len(uploads) == 2
    for upload, image in zip(uploads, (JPEG, PNG), strict=True):
        assert upload.headers["Authorization"] == "Bearer x-access-1"
        assert upload.headers["Content-Type"].startswith("multipart/form-data")
        assert b'name="media_category"\r\n\r\ntweet_image' in upload.body
        assert image in upload.body
    tweet = fake.calls[-1].request
    assert tweet.url == f"{X_API}/tweets"
    assert tweet.headers["Authorization"] == "Bearer x-access-1"
    assert json.loads(tweet.body) == {
        "text": "Spring Open: enter now\nhttps://alpha.example/open",
        "media": {"media_ids": ["1880000000000000001", "1880000000000000002"]},
    }
    variant.refresh_from_db()
    assert variant.status == VariantStatus.PUBLISHED
    assert variant.remote_id == "1890000000000000009"
    assert variant.remote_url == "https://x.com/alphagolf/status/1890000000000000009"
    assert variant.attempts.get().state == AttemptState.SUCCEEDED


def test_x_429_waits_for_the_reset_then_posts_once(alpha, fake):
    variant = scheduled_variant(x_account())
    reset = int((timezone.now() + timedelta(minutes=15)).timestamp())
    fake.post(
        f"{X_API}/tweets",
        status=429,
        json={"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
        headers={"x-rate-limit-reset": str(reset)},
    )
    assert variant_publish(variant_id=variant.id).result == "retry"
    variant.refresh_from_db()
    assert variant.status == VariantStatus.PUBLISHING
    assert int(variant.next_attempt_at.timestamp()) == reset
    assert "rate limit" in variant.error
    assert variant.attempts.get().state == AttemptState.RETRY
    # Not due yet: nothing is sent.
    assert variant_publish(variant_id=variant.id).result == "waiting"
    assert str(variant.id) not in variants_due_ids()

    PostVariant.objects.filter(id=variant.id).update(next_attempt_at=timezone.now())
    fake.replace(responses.POST, f"{X_API}/tweets", json={"data": {"id": "77", "text": "x"}})
    assert str(variant.id) in variants_due_ids()
    # A 429 means "not posted": no lookup before posting again.
    assert variant_publish(variant_id=variant.id).result == "published"
    assert [c.request.method for c in fake.calls] == ["POST", "POST"]
    variant.refresh_from_db()
    assert (variant.status, variant.remote_id, variant.attempt_count) == ("PUBLISHED", "77", 2)


def test_malformed_answer_is_in_doubt_and_never_posted_twice(alpha, fake):
    variant = scheduled_variant(x_account())
    fake.post(f"{X_API}/tweets", body="<html>upstream hiccup</html>", status=200,
              content_type="text/html")  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "retry"
    assert variant.attempts.get().state == AttemptState.IN_DOUBT

    PostVariant.objects.filter(id=variant.id).update(next_attempt_at=timezone.now())
    fake.get(re.compile(rf"{X_API}/users/2244994945/tweets.*"), json={"meta": {"result_count": 0}})
    assert variant_publish(variant_id=variant.id).result == "review"
    variant.refresh_from_db()
    assert variant.status == VariantStatus.NEEDS_REVIEW
    creates = [c for c in fake.calls if c.request.url == f"{X_API}/tweets"]
    assert len(creates) == 1
    lookup = query(fake.calls[-1].request)
    assert lookup["max_results"] == ["20"] and "start_time" in lookup


class WorkerDied(BaseException):
    """What a SIGKILL looks like from inside: nothing after this line runs."""


def test_worker_dying_after_x_answered_is_reconciled_not_reposted(alpha, fake):
    """The network accepts the tweet, then the worker dies before recording the answer. The
    next run finds the tweet on X and records it; X never sees a second create."""
    variant = scheduled_variant(x_account(), text="Club championship draw is out")
    on_x: list[dict] = []

    def create(request):
        on_x.append({"id": "1999", "text": json.loads(request.body)["text"]})
        raise WorkerDied

    fake.add_callback(responses.POST, f"{X_API}/tweets", callback=create)
    with pytest.raises(WorkerDied):
        variant_publish(variant_id=variant.id)
    variant.refresh_from_db()
    attempt = variant.attempts.get()
    assert (variant.status, attempt.state) == ("PUBLISHING", AttemptState.STARTED)
    # The lease keeps the sweep off while a worker may still be on it...
    assert str(variant.id) not in variants_due_ids()
    # ...and once it has passed, the sweep hands the variant to another worker.
    PostVariant.objects.filter(id=variant.id).update(next_attempt_at=timezone.now())
    assert str(variant.id) in variants_due_ids()

    fake.get(
        re.compile(rf"{X_API}/users/2244994945/tweets.*"),
        json={"data": [{**tweet, "edit_history_tweet_ids": [tweet["id"]]} for tweet in on_x],
              "meta": {"result_count": len(on_x)}},
    )  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "reconciled"
    variant.refresh_from_db()
    assert (variant.status, variant.remote_id) == ("PUBLISHED", "1999")
    assert variant.attempts.get().state == AttemptState.RECONCILED
    assert len(on_x) == 1
    assert sum(c.request.url == f"{X_API}/tweets" for c in fake.calls) == 1
    # Asking again changes nothing.
    assert variant_publish(variant_id=variant.id).result == "PUBLISHED"


def test_a_second_worker_leaves_a_variant_alone_while_the_first_holds_it(alpha, fake):
    from social.publishing import variant_lock

    variant = scheduled_variant(x_account())
    with variant_lock(variant.id) as first:
        assert first
        # Another connection = another worker process.
        from django.db import connections

        other = connections.create_connection("default")
        try:
            other.set_schema(connection.schema_name)
            with other.cursor() as cursor:
                key = f"social.variant:{connection.schema_name}:{variant.id}"
                cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
                assert cursor.fetchone()[0] is False
        finally:
            other.close()
    assert not fake.calls


def test_x_token_is_refreshed_before_it_expires(alpha, fake):
    account = x_account(
        tokens=TokenSet(access_token="old-access", refresh_token="old-refresh",
                        expires_at=timezone.now() + timedelta(minutes=2))
    )  # fmt: skip
    variant = scheduled_variant(account)
    fake.post(
        X_TOKEN_URL,
        json={"token_type": "bearer", "expires_in": 7200, "access_token": "new-access",
              "refresh_token": "new-refresh", "scope": "tweet.read tweet.write"},
    )  # fmt: skip
    fake.post(f"{X_API}/tweets", json={"data": {"id": "5", "text": "x"}})

    assert variant_publish(variant_id=variant.id).result == "published"
    refresh = fake.calls[0].request
    assert form(refresh)["grant_type"] == ["refresh_token"]
    assert form(refresh)["refresh_token"] == ["old-refresh"]
    assert refresh.headers["Authorization"].startswith("Basic ")
    assert fake.calls[1].request.headers["Authorization"] == "Bearer new-access"
    account.refresh_from_db()
    assert token_decrypt(account.access_token_enc) == "new-access"
    assert token_decrypt(account.refresh_token_enc) == "new-refresh"
    assert account.token_expires_at > timezone.now() + timedelta(hours=1)


def test_revoked_x_token_fails_the_post_and_asks_for_reconnecting(alpha, fake):
    account = x_account(
        tokens=TokenSet(access_token="old", refresh_token="revoked",
                        expires_at=timezone.now() - timedelta(minutes=5))
    )  # fmt: skip
    variant = scheduled_variant(account)
    fake.post(X_TOKEN_URL, status=400,
              json={"error": "invalid_grant", "error_description": "Value passed was invalid"})  # fmt: skip

    assert variant_publish(variant_id=variant.id).result == "failed"
    account.refresh_from_db()
    variant.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert variant.status == VariantStatus.FAILED
    assert "X: the account @alphagolf needs reconnecting" in variant.error
    assert not variant.attempts.exists()  # nothing was sent to X


def test_x_401_on_create_marks_the_account(alpha, fake):
    variant = scheduled_variant(x_account())
    fake.post(f"{X_API}/tweets", status=401, json={"title": "Unauthorized", "status": 401})
    assert variant_publish(variant_id=variant.id).result == "failed"
    variant.refresh_from_db()
    assert variant.account.status == AccountStatus.NEEDS_RECONNECT
    assert "needs reconnecting" in variant.error


# --- Facebook ----------------------------------------------------------------------------------


def test_facebook_text_post_goes_to_the_page_feed_with_pinned_version_and_proof(alpha, fake):
    variant = scheduled_variant(fb_account(), text="Course open, greens fast",
                                link="https://alpha.example/news")  # fmt: skip
    fake.post(f"{GRAPH}/1001/feed", json={"id": "1001_555"})

    assert variant_publish(variant_id=variant.id).result == "published"
    body = form(fake.calls[0].request)
    assert body == {
        "message": ["Course open, greens fast"],
        "link": ["https://alpha.example/news"],
        "access_token": ["page-token-1"],
        "appsecret_proof": [proof("page-token-1")],
    }
    variant.refresh_from_db()
    assert (variant.remote_id, variant.remote_url) == (
        "1001_555", "https://www.facebook.com/1001_555",
    )  # fmt: skip


def test_facebook_photo_by_signed_url_which_serves_the_image(alpha, fake, client):
    image = image_upload(actor=ADMIN, filename="tee.jpg", content=JPEG)
    variant = scheduled_variant(fb_account(), text="New tee boxes", images=[image.id])
    fake.post(f"{GRAPH}/1001/photos", json={"id": "9001", "post_id": "1001_556"})

    assert variant_publish(variant_id=variant.id).result == "published"
    body = form(fake.calls[0].request)
    assert body["message"] == ["New tee boxes"]
    url = body["url"][0]
    assert url.startswith(f"https://crm.test/t/{alpha.id}/api/v1/social/media/")
    variant.refresh_from_db()
    assert variant.remote_id == "1001_556"

    # What Facebook then fetches, without any key:
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == JPEG
    # A tampered token opens nothing.
    assert client.get(urlsplit(url).path[:-3] + "xyz").status_code == 404


def test_facebook_several_photos_are_attached_to_one_feed_post(alpha, fake):
    ids = [image_upload(actor=ADMIN, filename=f"{n}.jpg", content=JPEG + bytes([n])).id
           for n in range(2)]  # fmt: skip
    variant = scheduled_variant(fb_account(), text="Captain's day", images=ids)
    fake.post(f"{GRAPH}/1001/photos", json={"id": "p1"})
    fake.post(f"{GRAPH}/1001/photos", json={"id": "p2"})
    fake.post(f"{GRAPH}/1001/feed", json={"id": "1001_557"})

    assert variant_publish(variant_id=variant.id).result == "published"
    photos = [form(c.request) for c in fake.calls[:2]]
    assert all(p["published"] == ["false"] for p in photos)
    feed = form(fake.calls[2].request)
    assert feed["attached_media[0]"] == ['{"media_fbid": "p1"}']
    assert feed["attached_media[1]"] == ['{"media_fbid": "p2"}']


def test_facebook_500_is_looked_up_then_posted_again(alpha, fake):
    variant = scheduled_variant(fb_account(), text="Winter rules apply")
    fake.post(f"{GRAPH}/1001/feed", status=500,
              json={"error": {"message": "An unknown error occurred", "code": 1, "is_transient": True}})  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "retry"
    attempt = variant.attempts.get()
    assert (attempt.state, attempt.http_status) == (AttemptState.SERVER_ERROR, 500)
    variant.refresh_from_db()
    assert variant.next_attempt_at > timezone.now()

    PostVariant.objects.filter(id=variant.id).update(next_attempt_at=timezone.now())
    fake.get(f"{GRAPH}/1001/published_posts", json={"data": []})
    fake.replace(responses.POST, f"{GRAPH}/1001/feed", json={"id": "1001_600"})
    assert variant_publish(variant_id=variant.id).result == "published"
    lookup = query(fake.calls[1].request)
    assert lookup["fields"] == ["id,message,created_time,permalink_url"]
    assert lookup["access_token"] == ["page-token-1"]
    assert [c.request.method for c in fake.calls] == ["POST", "GET", "POST"]


def test_facebook_500_after_which_the_post_exists_is_not_posted_again(alpha, fake):
    variant = scheduled_variant(fb_account(), text="Winter rules apply")
    fake.post(f"{GRAPH}/1001/feed", status=502, body="Bad Gateway", content_type="text/html")
    assert variant_publish(variant_id=variant.id).result == "retry"
    PostVariant.objects.filter(id=variant.id).update(next_attempt_at=timezone.now())
    fake.get(f"{GRAPH}/1001/published_posts",
             json={"data": [{"id": "1001_601", "message": "Winter rules apply",
                             "permalink_url": "https://www.facebook.com/alpha/posts/601"}]})  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "reconciled"
    variant.refresh_from_db()
    assert variant.remote_url == "https://www.facebook.com/alpha/posts/601"
    assert sum(c.request.method == "POST" for c in fake.calls) == 1


def test_facebook_throttling_code_is_treated_as_429(alpha, fake):
    variant = scheduled_variant(fb_account())
    fake.post(f"{GRAPH}/1001/feed", status=400,
              json={"error": {"message": "Page request limit reached", "code": 32}})  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "retry"
    assert variant.attempts.get().state == AttemptState.RETRY


def test_facebook_refusal_is_not_retried(alpha, fake):
    variant = scheduled_variant(fb_account())
    fake.post(f"{GRAPH}/1001/feed", status=400,
              json={"error": {"message": "(#100) Invalid parameter", "code": 100}})  # fmt: skip
    assert variant_publish(variant_id=variant.id).result == "failed"
    variant.refresh_from_db()
    assert variant.status == VariantStatus.FAILED
    assert variant.error == "Facebook: (#100) Invalid parameter"
    assert variant_publish(variant_id=variant.id).result == "FAILED"
    assert len(fake.calls) == 1


def test_retries_stop_after_the_last_attempt(alpha, fake):
    variant = scheduled_variant(fb_account())
    fake.post(f"{GRAPH}/1001/feed", status=503, json={"error": {"message": "down", "code": 2}})
    fake.get(f"{GRAPH}/1001/published_posts", json={"data": []})
    results = []
    for _ in range(8):
        PostVariant.objects.filter(id=variant.id).update(next_attempt_at=None)
        results.append(variant_publish(variant_id=variant.id).result)
    assert results == ["retry"] * 6 + ["failed", "FAILED"]
    variant.refresh_from_db()
    assert variant.error.startswith("Gave up after 6 tries")


# --- Instagram ---------------------------------------------------------------------------------


def test_instagram_creates_a_container_then_publishes_it(alpha, fake):
    image = image_upload(actor=ADMIN, filename="tee.jpg", content=JPEG)
    variant = scheduled_variant(ig_account(), text="Sunrise on the 18th", images=[image.id])
    ig = "17841400000000001"
    fake.post(f"{GRAPH}/{ig}/media", json={"id": "container-1"})
    fake.post(f"{GRAPH}/{ig}/media_publish", json={"id": "media-1"})
    fake.get(
        f"{GRAPH}/media-1", json={"id": "media-1", "permalink": "https://www.instagram.com/p/abc/"}
    )

    assert variant_publish(variant_id=variant.id).result == "published"
    container, publish, permalink = (c.request for c in fake.calls)
    params = query(container)
    assert params["caption"] == ["Sunrise on the 18th"]
    assert params["image_url"][0].startswith(f"https://crm.test/t/{alpha.id}/api/v1/social/media/")
    assert form(container) == {
        "access_token": ["page-token-1"], "appsecret_proof": [proof("page-token-1")],
    }  # fmt: skip
    assert query(publish)["creation_id"] == ["container-1"]
    assert query(permalink)["fields"] == ["permalink"]
    variant.refresh_from_db()
    assert (variant.remote_id, variant.remote_url) == (
        "media-1",
        "https://www.instagram.com/p/abc/",
    )


def test_instagram_daily_limit_defers_instead_of_failing(alpha, fake, settings):
    settings.SOCIAL_DAILY_LIMITS = {**settings.SOCIAL_DAILY_LIMITS, "instagram": 2}
    account = ig_account()
    image = image_upload(actor=ADMIN, filename="tee.jpg", content=JPEG)
    earlier = []
    for hours in (3, 1):
        done = scheduled_variant(account, text=f"post {hours}", images=[image.id])
        earlier.append(done)
        PostVariant.objects.filter(id=done.id).update(
            status="PUBLISHED", published_at=timezone.now() - timedelta(hours=hours)
        )
    variant = scheduled_variant(account, text="third", images=[image.id])
    assert variant_publish(variant_id=variant.id).result == "deferred"
    variant.refresh_from_db()
    assert "2 posts in 24 hours" in variant.error
    expected = timezone.now() - timedelta(hours=3) + timedelta(hours=24)
    assert abs((variant.next_attempt_at - expected).total_seconds()) < 5
    assert not fake.calls


# --- Accounts: tokens at rest, the daily check ---------------------------------------------------


def test_tokens_are_encrypted_at_rest(alpha):
    account = x_account()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_enc, refresh_token_enc FROM social_socialaccount WHERE id = %s",
            [account.id],
        )
        access, refresh = cursor.fetchone()
    assert "x-access-1" not in access and "x-refresh-1" not in refresh
    assert token_decrypt(access) == "x-access-1"


def test_daily_check_marks_a_revoked_facebook_token_and_posts_then_fail(alpha, fake):
    account = fb_account()
    fake.get(
        f"{GRAPH}/debug_token",
        json={
            "data": {"is_valid": False, "error": {"message": "The session has been invalidated"}}
        },
    )
    assert account_check(account_id=account.id).result == "needs_reconnect"
    check = query(fake.calls[0].request)
    assert check["input_token"] == ["page-token-1"]
    assert check["access_token"] == ["fb-app-1|fb-secret-1"]
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert "invalidated" in account.status_reason

    # A post scheduled before the check fails when due, saying why.
    from social.models import Post

    post = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="hi")])
    PostVariant.objects.filter(post=post).update(status="SCHEDULED", scheduled_at=timezone.now())
    variant = post.variants.get()
    assert variant_publish(variant_id=variant.id).result == "failed"
    variant.refresh_from_db()
    assert variant.error.startswith("Facebook: the account Alpha Golf Club needs reconnecting")
    assert Post.objects.count() == 1


def test_daily_check_passes_a_good_token_and_ignores_a_network_outage(alpha, fake):
    account = fb_account()
    fake.get(f"{GRAPH}/debug_token", json={"data": {"is_valid": True, "expires_at": 0}})
    assert account_check(account_id=account.id).result == "ok"
    fake.replace(responses.GET, f"{GRAPH}/debug_token", status=503, body="down")
    assert account_check(account_id=account.id).result == "retry"
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED


# --- Engagement -------------------------------------------------------------------------------


def test_engagement_is_fetched_and_its_cadence_slows_with_age(alpha, fake):
    variant = scheduled_variant(x_account())
    PostVariant.objects.filter(id=variant.id).update(
        status="PUBLISHED", remote_id="1890", published_at=timezone.now() - timedelta(hours=2),
        metrics_due_at=timezone.now(),
    )  # fmt: skip
    fake.get(
        f"{X_API}/tweets/1890",
        json={"data": {"id": "1890", "text": "x", "edit_history_tweet_ids": ["1890"],
                       "public_metrics": {"like_count": 12, "reply_count": 3, "retweet_count": 4,
                                          "quote_count": 1, "impression_count": 900}}},
    )  # fmt: skip
    assert engagement_fetch(variant_id=variant.id).result == "fetched"
    assert query(fake.calls[0].request)["tweet.fields"] == ["public_metrics"]
    variant.refresh_from_db()
    assert (variant.likes, variant.comments, variant.shares, variant.impressions) == (12, 3, 5, 900)
    assert variant.snapshots.count() == 1
    assert abs((variant.metrics_due_at - timezone.now()) - timedelta(hours=1)) < timedelta(
        minutes=1
    )

    now = timezone.now()
    assert next_metrics_due(published_at=now - timedelta(hours=5), now=now) == now + timedelta(
        hours=1
    )
    assert next_metrics_due(published_at=now - timedelta(days=2), now=now) == now + timedelta(
        hours=6
    )
    assert next_metrics_due(published_at=now - timedelta(days=8), now=now) == now + timedelta(
        days=1
    )
    assert next_metrics_due(published_at=now - timedelta(days=91), now=now) is None


def test_facebook_and_instagram_engagement(alpha, fake):
    fb = scheduled_variant(fb_account(), text="a")
    PostVariant.objects.filter(id=fb.id).update(
        status="PUBLISHED", remote_id="1001_9", published_at=timezone.now()
    )
    fake.get(f"{GRAPH}/1001_9", json={
        "shares": {"count": 2}, "likes": {"data": [], "summary": {"total_count": 30}},
        "comments": {"data": [], "summary": {"total_count": 4}},
        "insights": {"data": [{"name": "post_impressions", "values": [{"value": 1200}]}]},
    })  # fmt: skip
    assert engagement_fetch(variant_id=fb.id).result == "fetched"
    fb.refresh_from_db()
    assert (fb.likes, fb.comments, fb.shares, fb.impressions) == (30, 4, 2, 1200)

    image = image_upload(actor=ADMIN, filename="a.jpg", content=JPEG)
    ig = scheduled_variant(ig_account(), text="b", images=[image.id])
    PostVariant.objects.filter(id=ig.id).update(
        status="PUBLISHED", remote_id="m-9", published_at=timezone.now()
    )
    fake.get(f"{GRAPH}/m-9", json={"like_count": 50, "comments_count": 6})
    fake.get(f"{GRAPH}/m-9/insights", json={"data": [
        {"name": "views", "values": [{"value": 800}]}, {"name": "shares", "values": [{"value": 7}]},
    ]})  # fmt: skip
    assert engagement_fetch(variant_id=ig.id).result == "fetched"
    ig.refresh_from_db()
    assert (ig.likes, ig.comments, ig.shares, ig.impressions) == (50, 6, 7, 800)


# --- Validation, scheduling, approval ---------------------------------------------------------


def test_each_network_validates_before_scheduling_and_says_which_and_why(alpha):
    from django.core.exceptions import ValidationError

    x, ig = x_account(), ig_account()
    png = image_upload(actor=ADMIN, filename="logo.png", content=PNG)
    long_text = "a" * 260 + " https://www.alphagolf.ie/" + "x" * 200  # 260 + 1 + 23 = 284
    post = post_create(actor=ADMIN, variants=[
        VariantInput(account_id=x.id, text=long_text),
        VariantInput(account_id=ig.id, text="no image"),
    ])  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        post_schedule(actor=ADMIN, post=post, mode="now")
    errors = raised.value.message_dict
    assert errors["variants.x.text"] == [
        "X: the text is 284 of 280 characters (links count as 23, emoji and CJK characters as 2)."
    ]
    assert errors["variants.instagram.images"] == ["Instagram: a post needs at least one image."]
    assert set(post.variants.values_list("status", flat=True)) == {"DRAFT"}

    # Links count 23 whatever their length: 256 + 1 + 23 = 280 fits.
    fine = post_create(actor=ADMIN, variants=[
        VariantInput(account_id=x.id, text="a" * 256 + " https://www.alphagolf.ie/" + "x" * 200),
    ])  # fmt: skip
    post_schedule(actor=ADMIN, post=fine, mode="now")

    post = post_create(actor=ADMIN, variants=[
        VariantInput(account_id=ig.id, text="logo", image_ids=[png.id]),
    ])  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        post_schedule(actor=ADMIN, post=post, mode="now")
    assert raised.value.message_dict["variants.instagram.images"] == [
        "Instagram: logo.png is image/png; use JPEG."
    ]


def test_uploads_are_checked_by_content(alpha):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Not a JPEG"):
        image_upload(actor=ADMIN, filename="virus.jpg", content=b"MZ\x90\x00 not an image")
    with pytest.raises(ValidationError, match="limit is 10 MB"):
        image_upload(actor=ADMIN, filename="huge.jpg", content=JPEG + b"\x00" * (10 * 1024 * 1024))


def test_publish_now_is_queued_on_commit(alpha, django_capture_on_commit_callbacks):
    account = x_account()
    post = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="go")])
    with django_capture_on_commit_callbacks() as callbacks:
        post_schedule(actor=ADMIN, post=post, mode="now")
    assert len(callbacks) == 1


def test_a_time_without_offset_is_the_clubs_local_time(alpha):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    account = x_account()
    post = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="go")])
    local = datetime.now(ZoneInfo(alpha.timezone)).replace(tzinfo=None, microsecond=0)
    local = local.replace(year=local.year + 1, month=7, day=1, hour=9, minute=0, second=0)
    post_schedule(actor=ADMIN, post=post, mode="at", at=local)
    variant = post.variants.get()
    assert variant.status == "SCHEDULED"
    assert variant.scheduled_at == local.replace(tzinfo=ZoneInfo(alpha.timezone))
    assert variant_publish(variant_id=variant.id).result == "not_due"


def test_queue_takes_the_next_free_slot_of_the_account(alpha):
    account = x_account()
    first = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="one")])
    second = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="two")])
    post_schedule(actor=ADMIN, post=first, mode="queue")
    post_schedule(actor=ADMIN, post=second, mode="queue")
    a, b = (p.variants.get().scheduled_at for p in (first, second))
    assert a < b
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(alpha.timezone)
    assert {a.astimezone(tz).strftime("%H:%M"), b.astimezone(tz).strftime("%H:%M")} <= {
        "09:00", "13:00", "18:00",
    }  # fmt: skip
    # The slot after both is neither of them.
    assert queue_next_slot(account=account, after=timezone.now(), taken={a, b}) not in {a, b}


def test_marketing_posts_wait_for_an_admin_when_approval_is_on(
    alpha, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    SocialSettings.objects.update_or_create(id=1, defaults={"approval_required": True})
    account = x_account()
    post = post_create(actor=MARKETING, variants=[VariantInput(account_id=account.id, text="hi")])
    with django_capture_on_commit_callbacks() as callbacks:
        post_schedule(actor=MARKETING, post=post, mode="now")
    assert callbacks == []
    post.refresh_from_db()
    assert post.approval_status == "PENDING"
    assert post.variants.get().status == "PENDING_APPROVAL"
    assert str(post.variants.get().id) not in variants_due_ids()
    with pytest.raises(ValidationError):
        post_approve(actor=MARKETING, post=post)
    with django_capture_on_commit_callbacks() as callbacks:
        post_approve(actor=ADMIN, post=post)
    assert len(callbacks) == 1
    assert post.variants.get().status == "SCHEDULED"
    # An ADMIN's own posts need no approval.
    own = post_create(actor=ADMIN, variants=[VariantInput(account_id=account.id, text="mine")])
    post_schedule(actor=ADMIN, post=own, mode="now")
    assert own.variants.get().status == "SCHEDULED"


def test_one_variant_per_network(alpha):
    from django.core.exceptions import ValidationError

    account = x_account()
    with pytest.raises(ValidationError, match="only one account per network"):
        post_create(actor=ADMIN, variants=[
            VariantInput(account_id=account.id, text="a"), VariantInput(account_id=account.id, text="b"),
        ])  # fmt: skip


def test_check_deploy_refuses_without_token_keys():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "CRM_SOCIAL_TOKEN_KEYS")}
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", DEBUG="0", ALLOWED_HOSTS="crm.example",
               SECRET_KEY="s" * 60)  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=root, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "crm.E002" in result.stderr


def test_rotating_the_token_key(alpha, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    account = x_account()
    old_key = settings.CRM_SOCIAL_TOKEN_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CRM_SOCIAL_TOKEN_KEYS = [new_key, old_key]
    call_command("rotate_social_tokens", stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings.CRM_SOCIAL_TOKEN_KEYS = [new_key]  # the old key can go now
    account.refresh_from_db()
    assert token_decrypt(account.access_token_enc) == "x-access-1"
    assert token_decrypt(account.refresh_token_enc) == "x-refresh-1"
