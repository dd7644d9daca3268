"""Social Publisher: connecting accounts through the admin's OAuth flows (networks faked with
`responses`), the REST and GraphQL endpoints, and isolation between clubs."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django_tenants.utils import schema_context

from social.clients.base import TokenSet
from social.crypto import token_decrypt
from social.models import PostVariant, SocialAccount
from social.services import (
    Actor,
    VariantInput,
    account_connect,
    image_public_url,
    image_upload,
    post_create,
)
from tests.conftest import STAFF_PASSWORD, error_of

GRAPH = "https://graph.facebook.com/v23.0"
ADMIN = Actor(label="admin@test", is_admin=True)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1000
SECRET_TOKENS = ("x-access-secret", "x-refresh-secret", "page-token-secret")


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def login(api, make_staff, tenant, role):
    email = make_staff(tenant, role)
    client = api()
    response = client.post(
        f"/t/{tenant.slug}/admin/login/",
        {"username": email, "password": STAFF_PASSWORD, "next": f"/t/{tenant.slug}/admin/"},
    )
    assert response.status_code == 302
    return client


def connect_accounts(tenant) -> dict[str, SocialAccount]:
    with schema_context(tenant.schema_name):
        return {
            "x": account_connect(
                actor=ADMIN, network="x", remote_id="42", name="@club", username="club",
                tokens=TokenSet(access_token="x-access-secret", refresh_token="x-refresh-secret"),
            ),
            "facebook": account_connect(
                actor=ADMIN, network="facebook", remote_id="1001", name=f"{tenant.name} Page",
                tokens=TokenSet(access_token="page-token-secret"),
            ),
        }  # fmt: skip


def assert_no_tokens(response) -> None:
    body = response.content.decode()
    for secret in SECRET_TOKENS:
        assert secret not in body
    assert "access_token_enc" not in body and "gAAAAA" not in body  # no Fernet token either


# --- Connecting through OAuth ------------------------------------------------------------------


def test_admin_connects_x_with_pkce(clubs, api, make_staff, fake):
    client = login(api, make_staff, clubs.alpha, "ADMIN")
    start = client.get("/t/alpha-golf/admin/social/socialaccount/connect/x/")
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://twitter.com/i/oauth2/authorize"
    )
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == "x-client-1"
    assert params["code_challenge_method"] == "S256"
    assert set(params["scope"].split()) >= {"tweet.write", "offline.access", "media.write"}
    assert params["redirect_uri"] == (
        f"https://crm.test/t/{clubs.alpha.id}/admin/social/socialaccount/oauth/callback/"
    )

    fake.post(
        "https://api.twitter.com/2/oauth2/token",
        json={"token_type": "bearer", "expires_in": 7200, "access_token": "x-access-secret",
              "refresh_token": "x-refresh-secret", "scope": params["scope"]},
    )  # fmt: skip
    fake.get(
        "https://api.twitter.com/2/users/me",
        json={"data": {"id": "2244994945", "name": "Alpha Golf", "username": "alphagolf"}},
    )
    done = client.get(
        "/t/alpha-golf/admin/social/socialaccount/oauth/callback/",
        {"state": params["state"], "code": "auth-code-1"},
    )
    assert done.status_code == 302
    exchange = fake.calls[0].request
    sent = parse_qs(exchange.body)
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["code"] == ["auth-code-1"]
    verifier = sent["code_verifier"][0]
    # The verifier kept in the session is the one whose S256 challenge went to X.
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge.decode() == params["code_challenge"]
    assert exchange.headers["Authorization"].startswith("Basic ")
    assert fake.calls[1].request.headers["Authorization"] == "Bearer x-access-secret"

    with schema_context(clubs.alpha.schema_name):
        account = SocialAccount.objects.get(network="x")
        assert (account.remote_id, account.name, account.status) == (
            "2244994945", "@alphagolf", "CONNECTED",
        )  # fmt: skip
        assert token_decrypt(account.refresh_token_enc) == "x-refresh-secret"
        page = client.get(f"/t/alpha-golf/admin/social/socialaccount/{account.id}/change/")
    assert page.status_code == 200
    assert_no_tokens(page)

    # The same state cannot be used twice.
    again = client.get(
        "/t/alpha-golf/admin/social/socialaccount/oauth/callback/",
        {"state": params["state"], "code": "auth-code-1"},
    )
    assert again.status_code == 302 and len(fake.calls) == 2


def test_admin_connects_an_instagram_account_choosing_among_pages(clubs, api, make_staff, fake):
    client = login(api, make_staff, clubs.alpha, "ADMIN")
    start = client.get("/t/alpha-golf/admin/social/socialaccount/connect/instagram/")
    location = urlsplit(start["Location"])
    assert location.netloc == "www.facebook.com"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert "instagram_content_publish" in params["scope"].split(",") + params["scope"].split()

    fake.post("https://graph.facebook.com/oauth/access_token",
              json={"access_token": "short-user", "token_type": "bearer", "expires_in": 3600})  # fmt: skip
    fake.get("https://graph.facebook.com/oauth/access_token",
             json={"access_token": "long-user", "token_type": "bearer", "expires_in": 5183944})  # fmt: skip
    fake.get(f"{GRAPH}/me/accounts", json={"data": [
        {"id": "1001", "name": "Alpha Golf Club", "access_token": "page-token-secret",
         "instagram_business_account": {"id": "178414", "username": "alphagolf"}},
        {"id": "1002", "name": "Alpha Pro Shop", "access_token": "shop-token",
         "instagram_business_account": {"id": "178415", "username": "alphashop"}},
        {"id": "1003", "name": "No Instagram", "access_token": "other"},
    ]})  # fmt: skip
    choose = client.get(
        "/t/alpha-golf/admin/social/socialaccount/oauth/callback/",
        {"state": params["state"], "code": "fb-code"},
    )
    assert choose.status_code == 200
    page = choose.content.decode()
    assert "@alphagolf" in page and "@alphashop" in page and "No Instagram" not in page
    assert "page-token-secret" not in page

    long_lived = parse_qs(urlsplit(fake.calls[1].request.url).query)
    assert long_lived["grant_type"] == ["fb_exchange_token"]
    assert long_lived["fb_exchange_token"] == ["short-user"]
    accounts = parse_qs(urlsplit(fake.calls[2].request.url).query)
    assert accounts["access_token"] == ["long-user"]

    key = choose.context["candidates"][0].key
    done = client.post("/t/alpha-golf/admin/social/socialaccount/oauth/choose/", {"key": key})
    assert done.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        account = SocialAccount.objects.get(network="instagram")
        assert (account.remote_id, account.linked_page_id) == ("178414", "1001")
        assert token_decrypt(account.access_token_enc) == "page-token-secret"


def test_only_an_admin_connects_accounts(clubs, api, make_staff):
    client = login(api, make_staff, clubs.alpha, "MARKETING")
    assert client.get("/t/alpha-golf/admin/social/socialaccount/connect/x/").status_code == 403
    assert client.get("/t/alpha-golf/admin/social/socialaccount/").status_code == 200


def test_needs_reconnecting_shows_in_the_admin(clubs, api, make_staff):
    accounts = connect_accounts(clubs.alpha)
    with schema_context(clubs.alpha.schema_name):
        SocialAccount.objects.filter(id=accounts["x"].id).update(
            status="NEEDS_RECONNECT", status_reason="X: the token was refused"
        )
    client = login(api, make_staff, clubs.alpha, "ADMIN")
    page = client.get("/t/alpha-golf/admin/social/socialaccount/")
    assert "Needs reconnecting" in page.content.decode()
    assert_no_tokens(page)


def test_admin_composes_and_schedules_a_post(clubs, api, make_staff):
    accounts = connect_accounts(clubs.alpha)
    client = login(api, make_staff, clubs.alpha, "MARKETING")
    response = client.post("/t/alpha-golf/admin/social/post/add/", {
        "title": "Open week",
        "targets": [f"account:{accounts['x'].id}", f"account:{accounts['facebook'].id}"],
        "text": "Open week starts Monday", "link": "https://www.alphagolf.ie/open",
        "x_text": "Open week from Monday!", "mode": "queue",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context(clubs.alpha.schema_name):
        variants = {v.network: v for v in PostVariant.objects.all()}
    assert variants["x"].text == "Open week from Monday!"
    assert variants["facebook"].text == "Open week starts Monday"
    assert {v.status for v in variants.values()} == {"SCHEDULED"}


# --- REST ----------------------------------------------------------------------------------------


def test_accounts_api_never_returns_tokens(clubs, api, make_key):
    accounts = connect_accounts(clubs.alpha)
    client = api(make_key(clubs.alpha, "crm:social"))
    listing = client.get("/t/alpha-golf/api/v1/social/accounts")
    assert listing.status_code == 200
    assert {a["network"] for a in listing.json()["data"]} == {"x", "facebook"}
    assert_no_tokens(listing)
    detail = client.get(f"/t/alpha-golf/api/v1/social/accounts/{accounts['x'].id}")
    assert detail.json()["data"]["needsReconnecting"] is False
    assert_no_tokens(detail)
    changed = client.patch(
        f"/t/alpha-golf/api/v1/social/accounts/{accounts['x'].id}",
        data={"queueTimes": ["08:30", "17:00"]}, content_type="application/json",
    )  # fmt: skip
    assert changed.json()["data"]["queueTimes"] == ["08:30", "17:00"]
    bad = client.patch(
        f"/t/alpha-golf/api/v1/social/accounts/{accounts['x'].id}",
        data={"queueTimes": ["25:99"]}, content_type="application/json",
    )  # fmt: skip
    assert error_of(bad)["details"] == {"queueTimes": ["'25:99' is not a time of day (HH:MM)."]}
    # Without the social scope: refused.
    assert (
        api(make_key(clubs.alpha, "crm:read"))
        .get("/t/alpha-golf/api/v1/social/accounts")
        .status_code
        == 403
    )


def test_posts_api_create_validate_schedule_approve(clubs, api, make_key):
    accounts = connect_accounts(clubs.alpha)
    social = api(make_key(clubs.alpha, "crm:social"))
    upload = social.post(
        "/t/alpha-golf/api/v1/social/images",
        data={"file": _file("tee.jpg", JPEG)},
    )
    assert upload.status_code == 201, upload.content
    image_id = upload.json()["data"]["id"]
    bad_upload = social.post(
        "/t/alpha-golf/api/v1/social/images", data={"file": _file("a.jpg", b"nope")}
    )
    assert error_of(bad_upload)["details"] == {"file": ["Not a JPEG, PNG, GIF or WebP image."]}

    created = social.post("/t/alpha-golf/api/v1/social/posts", data={
        "title": "Results",
        "variants": [
            {"accountId": str(accounts["x"].id), "text": "x" * 300},
            {"accountId": str(accounts["facebook"].id), "text": "Results are in",
             "imageIds": [image_id]},
        ],
        "schedule": {"mode": "now"},
    }, content_type="application/json")  # fmt: skip
    assert created.status_code == 400
    error = error_of(created)
    assert error["details"] == {
        "variants.x.text": [
            "X: the text is 300 of 280 characters (links count as 23, emoji and CJK "
            "characters as 2)."
        ]
    }

    created = social.post("/t/alpha-golf/api/v1/social/posts", data={
        "title": "Results",
        "variants": [
            {"accountId": str(accounts["x"].id), "text": "Results are in"},
            {"accountId": str(accounts["facebook"].id), "text": "Results are in",
             "imageIds": [image_id]},
        ],
    }, content_type="application/json")  # fmt: skip
    assert created.status_code == 201
    post = created.json()["data"]
    assert {v["status"] for v in post["variants"]} == {"DRAFT"}
    scheduled = social.post(
        f"/t/alpha-golf/api/v1/social/posts/{post['id']}/schedule",
        data={"mode": "at", "at": "2099-06-01T09:30:00"}, content_type="application/json",
    )  # fmt: skip
    assert scheduled.status_code == 200, scheduled.content
    variants = scheduled.json()["data"]["variants"]
    # Europe/Dublin in June is UTC+1.
    assert {v["scheduledAt"] for v in variants} == {"2099-06-01T08:30:00Z"}
    assert {v["status"] for v in variants} == {"SCHEDULED"}

    listing = social.get("/t/alpha-golf/api/v1/social/posts?status=scheduled")
    assert listing.json()["meta"]["total"] == 1
    assert_no_tokens(listing)

    # Approving needs crm:admin.
    refused = social.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/approve")
    assert refused.status_code == 403
    cancelled = social.post(f"/t/alpha-golf/api/v1/social/posts/{post['id']}/cancel")
    assert {v["status"] for v in cancelled.json()["data"]["variants"]} == {"CANCELLED"}


def _file(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/jpeg")


def test_graphql_lists_accounts_without_tokens_and_creates_posts(clubs, api, make_key):
    accounts = connect_accounts(clubs.alpha)
    client = api(make_key(clubs.alpha, "crm:social"))
    query = "{ socialAccounts { id network name status needsReconnecting } }"
    response = client.post("/t/alpha-golf/graphql", data={"query": query},
                           content_type="application/json")  # fmt: skip
    data = response.json()["data"]["socialAccounts"]
    assert {a["network"] for a in data} == {"x", "facebook"}
    assert_no_tokens(response)
    # No token field exists to ask for.
    probe = client.post("/t/alpha-golf/graphql",
                        data={"query": "{ socialAccounts { accessTokenEnc } }"},
                        content_type="application/json")  # fmt: skip
    assert probe.status_code == 400
    assert "accessTokenEnc" in error_of(probe)["message"]

    mutation = """mutation($v: [SocialVariantInput!]!) {
      createSocialPost(title: "Hi", variants: $v, mode: NOW) {
        post { id variants { network status } } errors { field message code } } }"""
    response = client.post("/t/alpha-golf/graphql", data={
        "query": mutation,
        "variables": {"v": [{"accountId": str(accounts["x"].id), "text": "x" * 281}]},
    }, content_type="application/json")  # fmt: skip
    payload = response.json()["data"]["createSocialPost"]
    assert payload["post"] is None
    assert payload["errors"][0]["field"] == "variants.x.text"
    response = client.post("/t/alpha-golf/graphql", data={
        "query": mutation,
        "variables": {"v": [{"accountId": str(accounts["x"].id), "text": "Hello"}]},
    }, content_type="application/json")  # fmt: skip
    payload = response.json()["data"]["createSocialPost"]
    assert payload["errors"] == []
    assert payload["post"]["variants"] == [{"network": "x", "status": "SCHEDULED"}]
    listing = client.post("/t/alpha-golf/graphql",
                          data={"query": "{ socialPosts { total items { title } } }"},
                          content_type="application/json")  # fmt: skip
    assert listing.json()["data"]["socialPosts"]["total"] == 1
    # Without the scope: refused.
    other = api(make_key(clubs.alpha, "crm:read"))
    refused = other.post("/t/alpha-golf/graphql", data={"query": query},
                         content_type="application/json")  # fmt: skip
    assert refused.json()["errors"][0]["extensions"]["code"] == "permission_denied"


# --- Between clubs -----------------------------------------------------------------------------


@pytest.fixture
def bravo_social(clubs):
    accounts = connect_accounts(clubs.bravo)
    with schema_context(clubs.bravo.schema_name):
        image = image_upload(actor=ADMIN, filename="b.jpg", content=JPEG)
        post = post_create(
            actor=ADMIN,
            title="Bravo secret plans",
            variants=[VariantInput(account_id=accounts["facebook"].id, text="Bravo secret")],
        )
        media_path = urlsplit(image_public_url(image_id=image.id)).path
    return {"account": accounts["facebook"], "post": post, "media_path": media_path}


def test_club_a_reaches_nothing_of_club_bs_social_data(clubs, api, make_key, bravo_social):
    alpha_key = make_key(clubs.alpha, "crm:social,crm:admin,crm:read")
    client = api(alpha_key)
    account, post = bravo_social["account"], bravo_social["post"]
    paths = [
        "api/v1/social/accounts",
        f"api/v1/social/accounts/{account.id}",
        "api/v1/social/posts",
        f"api/v1/social/posts/{post.id}",
        f"api/v1/social/posts/{post.id}/schedule",
        f"api/v1/social/posts/{post.id}/approve",
        f"api/v1/social/posts/{post.id}/cancel",
    ]
    for ref in ("bravo-golf", str(clubs.bravo.id)):
        for path in paths:
            for response in (client.get(f"/t/{ref}/{path}"), client.post(f"/t/{ref}/{path}")):
                assert response.status_code in (401, 403, 404, 405), (path, response.status_code)
                assert "Bravo secret" not in response.content.decode()
    # B's ids asked at A: unknown there.
    assert client.get(f"/t/alpha-golf/api/v1/social/posts/{post.id}").status_code == 404
    assert client.get(f"/t/alpha-golf/api/v1/social/accounts/{account.id}").status_code == 404
    listing = client.get("/t/alpha-golf/api/v1/social/posts")
    assert "Bravo secret" not in listing.content.decode()
    graphql = client.post("/t/alpha-golf/graphql",
                          data={"query": f'{{ socialPost(id: "{post.id}") {{ title }} }}'},
                          content_type="application/json")  # fmt: skip
    assert graphql.json()["data"]["socialPost"] is None


def test_a_signed_image_url_opens_only_in_its_own_club(clubs, api, bravo_social):
    media_path = bravo_social["media_path"]
    assert api().get(media_path).status_code == 200
    token = media_path.rsplit("/", 1)[1]
    for ref in ("alpha-golf", str(clubs.alpha.id)):
        response = api().get(f"/t/{ref}/api/v1/social/media/{token}")
        assert response.status_code == 404
        assert response.content != JPEG


def test_club_a_staff_cannot_act_on_club_bs_posts_in_the_admin(
    clubs, api, make_staff, bravo_social
):
    client = login(api, make_staff, clubs.alpha, "ADMIN")
    post = bravo_social["post"]
    response = client.post(f"/t/bravo-golf/admin/social/post/{post.id}/act/cancel/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post(f"/t/alpha-golf/admin/social/post/{post.id}/act/cancel/").status_code == 404
    with schema_context(clubs.bravo.schema_name):
        assert set(post.variants.values_list("status", flat=True)) == {"DRAFT"}


def test_saving_the_social_settings_in_the_admin_writes_an_audit_row(clubs, api, make_staff):
    from crm.accounts.models import AuditEntry
    from social.models import SocialSettings

    client = login(api, make_staff, clubs.alpha, "ADMIN")
    with schema_context(clubs.alpha.schema_name):
        assert not SocialSettings.objects.exists()
    add = client.post("/t/alpha-golf/admin/social/socialsettings/add/", {"approval_required": "on"})
    assert add.status_code == 302, add.content.decode()[:2000]
    change = client.post("/t/alpha-golf/admin/social/socialsettings/1/change/", {})
    assert change.status_code == 302, change.content.decode()[:2000]
    with schema_context(clubs.alpha.schema_name):
        assert SocialSettings.objects.get().approval_required is False
        audit = list(
            AuditEntry.objects.filter(action="social_settings.changed")
            .order_by("created_at", "id")
            .values_list("actor_label", "details")
        )
    email = "admin@alpha-golf.example"
    assert audit == [
        (email, {"approvalRequired": True}),
        (email, {"approvalRequired": False}),
    ]
    # MARKETING reads the page at most: a save is refused and changes nothing.
    marketing = login(api, make_staff, clubs.alpha, "MARKETING")
    refused = marketing.post("/t/alpha-golf/admin/social/socialsettings/1/change/", {
        "approval_required": "on"
    })  # fmt: skip
    assert refused.status_code == 403
    with schema_context(clubs.alpha.schema_name):
        assert SocialSettings.objects.get().approval_required is False
        assert AuditEntry.objects.filter(action="social_settings.changed").count() == 2
