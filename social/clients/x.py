"""X (Twitter) through tweepy: OAuth 2.0 Authorization Code with PKCE (`OAuth2UserHandler`),
posts with `Client.create_tweet`, engagement with `Client.get_tweet`.

Media: tweepy uploads only through v1.1 (which X retired), so images go to X's v2 endpoint
`POST https://api.x.com/2/media/upload` (multipart `media` + `media_category=tweet_image`)
with the same OAuth 2.0 user token, and the returned ids are passed to `create_tweet`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
import tweepy
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth

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
    with_timeout,
)

SCOPES = ["tweet.read", "tweet.write", "users.read", "offline.access", "media.write"]
TOKEN_URL = "https://api.twitter.com/2/oauth2/token"  # noqa: S105 (a URL; tweepy's endpoint)
MEDIA_UPLOAD_URL = "https://api.x.com/2/media/upload"
# Access tokens live 2 hours; refresh when less than this is left.
REFRESH_MARGIN = timedelta(minutes=10)


def _handler(redirect_uri: str) -> tweepy.OAuth2UserHandler:
    return tweepy.OAuth2UserHandler(
        client_id=settings.SOCIAL_X_CLIENT_ID,
        client_secret=settings.SOCIAL_X_CLIENT_SECRET or None,
        redirect_uri=redirect_uri,
        scope=SCOPES,
    )


def oauth_start(*, redirect_uri: str) -> tuple[str, str, str]:
    """(authorization URL, state, PKCE code verifier): the caller keeps state and verifier
    for the callback (in the staff member's session)."""
    handler = _handler(redirect_uri)
    url = handler.get_authorization_url()
    return url, handler._state, handler._client.code_verifier


def _token_set(token: dict) -> TokenSet:
    expires_at = token.get("expires_at")
    return TokenSet(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token", ""),
        expires_at=datetime.fromtimestamp(float(expires_at), UTC) if expires_at else None,
    )


def _accept_narrower_scope(fetch) -> dict:
    """oauthlib raises a bare Warning when the granted scopes differ from those asked for
    (X lists them in another order, or the person unticked one). Keep the token: a missing
    right shows up as a refusal on the call that needs it."""
    try:
        return fetch()
    except Warning as warning:
        token = getattr(warning, "token", None)
        if token is None:
            raise
        return dict(token)


def oauth_finish(
    *, redirect_uri: str, authorization_response: str, state: str, verifier: str
) -> tuple[TokenSet, dict]:
    """Exchange the code (with the PKCE verifier) and read who connected:
    (tokens, {"id", "username", "name"})."""
    handler = _handler(redirect_uri)
    handler._state = state
    handler._client.code_verifier = verifier
    try:
        token = _accept_narrower_scope(lambda: handler.fetch_token(authorization_response))
    except (OAuth2Error, ValueError, KeyError) as exc:
        raise AuthError(f"X refused the authorisation: {exc}") from exc
    except requests.RequestException as exc:
        raise NetworkError(f"X could not be reached: {exc}") from exc
    tokens = _token_set(token)
    me = _call(
        lambda: _client(tokens.access_token).get_me(
            user_auth=False, user_fields=["username", "name"]
        )
    )
    data = me.data
    if data is None:
        raise InDoubt("X answered the profile request without data.")
    return tokens, {"id": str(data.id), "username": data.username, "name": data.name}


def token_refresh(*, refresh_token: str) -> TokenSet:
    """A new access token (and, X rotates them, a new refresh token)."""
    handler = _handler(redirect_uri=f"{settings.SOCIAL_PUBLIC_BASE_URL}/")
    auth = (
        HTTPBasicAuth(settings.SOCIAL_X_CLIENT_ID, settings.SOCIAL_X_CLIENT_SECRET)
        if settings.SOCIAL_X_CLIENT_SECRET
        else None
    )
    try:
        token = _accept_narrower_scope(
            lambda: handler.refresh_token(
                TOKEN_URL,
                refresh_token=refresh_token,
                auth=auth,
                client_id=settings.SOCIAL_X_CLIENT_ID,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        )
    except OAuth2Error as exc:  # invalid_grant: revoked, or the refresh token expired
        raise AuthError(f"X refused to refresh the token ({exc.error}).") from exc
    except ValueError as exc:
        raise NetworkError("X answered the token refresh with something unreadable.") from exc
    except requests.RequestException as exc:
        raise NetworkError(f"X could not be reached: {exc}") from exc
    return _token_set(token)


def _client(access_token: str) -> tweepy.Client:
    client = tweepy.Client(bearer_token=access_token, wait_on_rate_limit=False)
    with_timeout(client.session)
    return client


def _call(fn, *, creating: bool = False):
    """Run a tweepy call, turning its errors into ours."""
    try:
        return fn()
    except tweepy.TooManyRequests as exc:
        reset = getattr(exc, "reset_time", None)
        raise RateLimited(
            "X: rate limit reached.",
            http_status=429,
            retry_at=datetime.fromtimestamp(reset, UTC) if reset else None,
        ) from exc
    except tweepy.TwitterServerError as exc:
        raise ServerError(
            f"X: server error {exc.response.status_code}.", http_status=exc.response.status_code
        ) from exc
    except tweepy.Unauthorized as exc:
        raise AuthError("X: the token was refused (expired or revoked).", http_status=401) from exc
    except tweepy.HTTPException as exc:
        detail = "; ".join(exc.api_messages) or exc.response.reason
        raise Rejected(f"X: {detail}", http_status=exc.response.status_code) from exc
    except (requests.Timeout, requests.ConnectionError) as exc:
        if creating:
            raise InDoubt(f"X: no answer ({type(exc).__name__}).") from exc
        raise ServerError(f"X: no answer ({type(exc).__name__}).") from exc
    except ValueError as exc:  # the body was not JSON
        if creating:
            raise InDoubt("X: the answer could not be read.") from exc
        raise ServerError("X: the answer could not be read.") from exc


class XAdapter:
    network = "x"

    def __init__(self, *, access_token: str, account_id: str, username: str) -> None:
        self.access_token = access_token
        self.account_id = account_id
        self.username = username
        self.client = _client(access_token)

    def _upload(self, image: ImageRef) -> str:
        try:
            response = self.client.session.post(
                MEDIA_UPLOAD_URL,
                headers={"Authorization": f"Bearer {self.access_token}"},
                files={"media": (image.filename, image.content, image.content_type)},
                data={"media_category": "tweet_image"},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            # An upload posts nothing: safe to try again.
            raise ServerError(f"X media upload: no answer ({type(exc).__name__}).") from exc
        status = response.status_code
        if status == 429:
            reset = response.headers.get("x-rate-limit-reset")
            raise RateLimited(
                "X media upload: rate limit reached.",
                http_status=429,
                retry_at=datetime.fromtimestamp(int(reset), UTC) if reset else None,
            )
        if status >= 500:
            raise ServerError(f"X media upload: server error {status}.", http_status=status)
        if status == 401:
            raise AuthError("X: the token was refused (expired or revoked).", http_status=401)
        if not 200 <= status < 300:
            raise Rejected(
                f"X media upload refused {image.filename} ({status}).", http_status=status
            )
        try:
            return str(response.json()["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerError("X media upload: the answer could not be read.") from exc

    def publish(self, *, text: str, link: str, images: list[ImageRef]) -> Published:
        media_ids = [self._upload(image) for image in images] or None
        response = _call(
            lambda: self.client.create_tweet(text=text, media_ids=media_ids, user_auth=False),
            creating=True,
        )
        data = response.data if response is not None else None
        if not isinstance(data, dict) or not data.get("id"):
            raise InDoubt("X: the answer to the post had no id.")
        return Published(remote_id=str(data["id"]), url=self.url_for(str(data["id"])))

    def url_for(self, remote_id: str) -> str:
        return f"https://x.com/{self.username or 'i/web'}/status/{remote_id}"

    def find_published(self, *, text: str, since: datetime) -> Published | None:
        response = _call(
            lambda: self.client.get_users_tweets(
                self.account_id,
                start_time=since,
                max_results=20,
                tweet_fields=["created_at"],
                user_auth=False,
            )
        )
        for tweet in response.data or []:
            if same_text(tweet.text, text):
                return Published(remote_id=str(tweet.id), url=self.url_for(str(tweet.id)))
        return None

    def metrics(self, *, remote_id: str) -> Metrics:
        response = _call(
            lambda: self.client.get_tweet(
                remote_id, tweet_fields=["public_metrics"], user_auth=False
            )
        )
        tweet = response.data
        counts = (getattr(tweet, "public_metrics", None) or {}) if tweet is not None else {}
        if not counts:
            raise ServerError("X: the answer had no metrics.")
        return Metrics(
            likes=counts.get("like_count"),
            comments=counts.get("reply_count"),
            shares=(counts.get("retweet_count") or 0) + (counts.get("quote_count") or 0),
            impressions=counts.get("impression_count"),
        )

    def check(self) -> None:
        """Raises AuthError when X no longer accepts the token."""
        _call(lambda: self.client.get_me(user_auth=False))
