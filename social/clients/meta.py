"""Facebook Pages and Instagram Business accounts through python-facebook-api's `GraphAPI`.

Connecting: Facebook Login (authorization code) -> short-lived user token -> long-lived user
token (`fb_exchange_token`) -> `/me/accounts`, whose Page tokens, derived from a long-lived user
token, do not expire. An Instagram Business account is found on its Page
(`instagram_business_account`) and is published with that Page's token.

Publishing: Page text posts to `/{page}/feed` (`message`, `link`); one image to
`/{page}/photos` (`url`, `message`); several images as unpublished photos attached to one feed
post. Instagram: a media container (`image_url`, `caption`; several images make a carousel),
then `/{ig-user}/media_publish` with `creation_id`.

The Graph API version is pinned (settings.SOCIAL_GRAPH_API_VERSION), `appsecret_proof` is sent
with every call, and the library's sleeping on rate limits is off: a worker must not sleep, the
task is retried later instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error
from pyfacebook import FacebookError, GraphAPI, LibraryError

from social.clients.base import (
    REQUEST_TIMEOUT_SECONDS,
    AuthError,
    ImageRef,
    InDoubt,
    Metrics,
    NetworkError,
    Published,
    RateLimited,
    Rejected,
    ServerError,
    TokenSet,
    same_text,
)

FACEBOOK_SCOPES = [
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "read_insights",
    "business_management",
]
INSTAGRAM_SCOPES = [
    *FACEBOOK_SCOPES,
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_insights",
]
# Graph error codes that mean "slow down" (application, user, page and business throttling)
# or "not ready yet" (an Instagram container still processing): the same as a 429 for us.
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80001, 80002, 9007})
# Invalid or expired token, or a permission taken back.
AUTH_CODES = frozenset({102, 190, 10, 200})


def graph_api(*, access_token: str | None = None, **kwargs: Any) -> GraphAPI:
    api = GraphAPI(
        app_id=settings.SOCIAL_FACEBOOK_APP_ID,
        app_secret=settings.SOCIAL_FACEBOOK_APP_SECRET,
        access_token=access_token,
        version=settings.SOCIAL_GRAPH_API_VERSION,
        sleep_on_rate_limit=False,
        timeout=REQUEST_TIMEOUT_SECONDS,
        **kwargs,
    )
    # pyfacebook raises on an `error` body but never says which HTTP status came with it; keep
    # the last status to tell a 429/5xx from a refusal.
    api.last_status = None  # type: ignore[attr-defined]

    def remember(response: requests.Response, *args: Any, **kw: Any) -> None:
        api.last_status = response.status_code  # type: ignore[attr-defined]

    api.session.hooks["response"].append(remember)
    return api


def _call(api: GraphAPI, label: str, fn: Callable[[], dict], *, creating: bool = False) -> dict:
    """Run a GraphAPI call, turning its errors into ours."""
    api.last_status = None  # type: ignore[attr-defined]
    try:
        data = fn()
    except FacebookError as exc:
        status = api.last_status  # type: ignore[attr-defined]
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", "") or "unknown error"
        if status == 429 or code in THROTTLING_CODES:
            raise RateLimited(
                f"{label}: rate limit reached ({message}).", http_status=status
            ) from exc
        if status is not None and status >= 500:
            raise ServerError(
                f"{label}: server error {status} ({message}).", http_status=status
            ) from exc
        if code in AUTH_CODES or status == 401:
            raise AuthError(
                f"{label}: the token was refused ({message}).", http_status=status
            ) from exc
        raise Rejected(f"{label}: {message}", http_status=status) from exc
    except (requests.Timeout, requests.ConnectionError) as exc:
        error = InDoubt if creating else ServerError
        raise error(f"{label}: no answer ({type(exc).__name__}).") from exc
    except (LibraryError, ValueError, KeyError) as exc:
        # Not JSON (an HTML error page), or no Content-Type: a 5xx is a server error; a 2xx we
        # cannot read may still have created the post.
        status = api.last_status  # type: ignore[attr-defined]
        if status is not None and status >= 500:
            raise ServerError(f"{label}: server error {status}.", http_status=status) from exc
        if status == 429:
            raise RateLimited(f"{label}: rate limit reached.", http_status=status) from exc
        error = InDoubt if creating else ServerError
        raise error(f"{label}: the answer could not be read.", http_status=status) from exc
    if not isinstance(data, dict):
        raise (InDoubt if creating else ServerError)(f"{label}: the answer could not be read.")
    return data


def _id_of(data: dict, label: str, key: str = "id") -> str:
    value = data.get(key)
    if not value:
        raise InDoubt(f"{label}: the answer had no {key}.")
    return str(value)


# --- OAuth ------------------------------------------------------------------------------------


def oauth_start(*, redirect_uri: str, state: str, instagram: bool) -> str:
    api = graph_api(oauth_flow=True)
    url, _ = api.get_authorization_url(
        redirect_uri=redirect_uri,
        scope=INSTAGRAM_SCOPES if instagram else FACEBOOK_SCOPES,
        state=state,
    )
    return url


def oauth_finish(
    *, redirect_uri: str, authorization_response: str, state: str
) -> list[dict[str, Any]]:
    """The Pages the person manages, each with its non-expiring Page token and its Instagram
    Business account, if any: [{"id", "name", "access_token", "instagram": {"id", "username"}}]."""
    api = graph_api(oauth_flow=True)
    try:
        api.exchange_user_access_token(
            response=authorization_response, redirect_uri=redirect_uri, state=state
        )
    except (OAuth2Error, ValueError, KeyError) as exc:
        raise AuthError(f"Facebook refused the authorisation: {exc}") from exc
    except requests.RequestException as exc:
        raise NetworkError(f"Facebook could not be reached: {exc}") from exc
    long_lived = _call(
        api, "Facebook", lambda: api.exchange_long_lived_user_access_token(api.access_token)
    )
    user_token = _id_of(long_lived, "Facebook", "access_token")
    user_api = graph_api(access_token=user_token)
    pages = _call(
        user_api,
        "Facebook",
        lambda: user_api.get_connection(
            "me",
            "accounts",
            fields="id,name,access_token,instagram_business_account{id,username}",
            limit=100,
        ),
    )
    found = []
    for page in pages.get("data") or []:
        if not page.get("id") or not page.get("access_token"):
            continue
        found.append(
            {
                "id": str(page["id"]),
                "name": page.get("name") or str(page["id"]),
                "access_token": page["access_token"],
                "instagram": page.get("instagram_business_account"),
            }
        )
    return found


def page_tokens(page: dict) -> TokenSet:
    return TokenSet(access_token=page["access_token"])


def token_check(*, access_token: str) -> None:
    """Raises AuthError when Facebook says the token is no longer valid (expired, revoked,
    password changed, app removed)."""
    app_token = f"{settings.SOCIAL_FACEBOOK_APP_ID}|{settings.SOCIAL_FACEBOOK_APP_SECRET}"
    api = graph_api(access_token=app_token)
    data = _call(
        api, "Facebook", lambda: api.debug_token(input_token=access_token, access_token=app_token)
    )
    info = data.get("data")
    if not isinstance(info, dict):
        raise ServerError("Facebook: the token check could not be read.")
    if not info.get("is_valid"):
        reason = (info.get("error") or {}).get("message") or "the token is no longer valid"
        raise AuthError(f"Facebook: {reason}.")


# --- Adapters ---------------------------------------------------------------------------------


class FacebookAdapter:
    network = "facebook"
    label = "Facebook"

    def __init__(self, *, access_token: str, page_id: str) -> None:
        self.page_id = page_id
        self.access_token = access_token
        self.api = graph_api(access_token=access_token)

    def publish(self, *, text: str, link: str, images: list[ImageRef]) -> Published:
        api, label = self.api, self.label
        if len(images) == 1:
            data = _call(
                api,
                label,
                lambda: api.post_object(
                    self.page_id,
                    "photos",
                    data={"url": images[0].public_url, "message": _with_link(text, link)},
                ),
                creating=True,
            )
            post_id = str(data.get("post_id") or _id_of(data, label))
            return Published(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")
        body: dict[str, str] = {"message": text}
        if link:
            body["link"] = link
        for index, image in enumerate(images):
            # Unpublished photos show nothing on the Page until the feed post attaches them.
            photo = _call(
                api,
                label,
                lambda image=image: api.post_object(
                    self.page_id, "photos", data={"url": image.public_url, "published": "false"}
                ),
            )
            body[f"attached_media[{index}]"] = json.dumps({"media_fbid": _id_of(photo, label)})
        data = _call(
            api, label, lambda: api.post_object(self.page_id, "feed", data=body), creating=True
        )
        post_id = _id_of(data, label)
        return Published(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")

    def find_published(self, *, text: str, since: datetime) -> Published | None:
        data = _call(
            self.api,
            self.label,
            lambda: self.api.get_connection(
                self.page_id,
                "published_posts",
                fields="id,message,created_time,permalink_url",
                since=int(since.timestamp()),
                limit=25,
            ),
        )
        for post in data.get("data") or []:
            if post.get("id") and same_text(post.get("message", ""), text):
                url = post.get("permalink_url") or f"https://www.facebook.com/{post['id']}"
                return Published(remote_id=str(post["id"]), url=url)
        return None

    def metrics(self, *, remote_id: str) -> Metrics:
        data = _call(
            self.api,
            self.label,
            lambda: self.api.get_object(
                remote_id,
                fields="shares,likes.summary(true).limit(0),comments.summary(true).limit(0),"
                "insights.metric(post_impressions)",
            ),
        )
        impressions = None
        for metric in (data.get("insights") or {}).get("data") or []:
            if metric.get("name") == "post_impressions" and metric.get("values"):
                impressions = metric["values"][0].get("value")
        return Metrics(
            likes=((data.get("likes") or {}).get("summary") or {}).get("total_count"),
            comments=((data.get("comments") or {}).get("summary") or {}).get("total_count"),
            shares=(data.get("shares") or {}).get("count", 0),
            impressions=impressions,
        )

    def check(self) -> None:
        token_check(access_token=self.access_token)


def _with_link(text: str, link: str) -> str:
    if not link or link in text:
        return text
    return f"{text}\n{link}" if text else link


class InstagramAdapter:
    network = "instagram"
    label = "Instagram"

    def __init__(self, *, access_token: str, ig_user_id: str) -> None:
        self.ig_user_id = ig_user_id
        self.access_token = access_token
        self.api = graph_api(access_token=access_token)

    def publish(self, *, text: str, link: str, images: list[ImageRef]) -> Published:
        api, label, ig = self.api, self.label, self.ig_user_id
        caption = _with_link(text, link)
        if len(images) == 1:
            container = _call(
                api,
                label,
                lambda: api.post_object(
                    ig, "media", params={"image_url": images[0].public_url, "caption": caption}
                ),
            )
        else:
            children = [
                _id_of(
                    _call(
                        api,
                        label,
                        lambda image=image: api.post_object(
                            ig,
                            "media",
                            params={"image_url": image.public_url, "is_carousel_item": "true"},
                        ),
                    ),
                    label,
                )
                for image in images
            ]
            container = _call(
                api,
                label,
                lambda: api.post_object(
                    ig,
                    "media",
                    params={
                        "media_type": "CAROUSEL",
                        "children": ",".join(children),
                        "caption": caption,
                    },
                ),
            )
        creation_id = _id_of(container, label)
        data = _call(
            api,
            label,
            lambda: api.post_object(ig, "media_publish", params={"creation_id": creation_id}),
            creating=True,
        )
        media_id = _id_of(data, label)
        return Published(remote_id=media_id, url=self._permalink(media_id))

    def _permalink(self, media_id: str) -> str:
        # Best effort: the post is out whether or not its address can be read now.
        try:
            data = _call(
                self.api, self.label, lambda: self.api.get_object(media_id, fields="permalink")
            )
        except NetworkError:
            return ""
        return str(data.get("permalink") or "")

    def find_published(self, *, text: str, since: datetime) -> Published | None:
        data = _call(
            self.api,
            self.label,
            lambda: self.api.get_connection(
                self.ig_user_id, "media", fields="id,caption,timestamp,permalink", limit=25
            ),
        )
        for media in data.get("data") or []:
            stamp = _parse_time(media.get("timestamp"))
            if stamp is not None and stamp < since:
                continue
            if media.get("id") and same_text(media.get("caption", ""), text):
                return Published(remote_id=str(media["id"]), url=media.get("permalink") or "")
        return None

    def metrics(self, *, remote_id: str) -> Metrics:
        data = _call(
            self.api,
            self.label,
            lambda: self.api.get_object(remote_id, fields="like_count,comments_count"),
        )
        insights = _call(
            self.api,
            self.label,
            lambda: self.api.get_connection(remote_id, "insights", metric="views,shares"),
        )
        values = {
            metric.get("name"): (metric.get("values") or [{}])[0].get("value")
            for metric in insights.get("data") or []
        }
        return Metrics(
            likes=data.get("like_count"),
            comments=data.get("comments_count"),
            shares=values.get("shares"),
            impressions=values.get("views"),
        )

    def check(self) -> None:
        token_check(access_token=self.access_token)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
