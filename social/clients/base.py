"""What every network adapter shares: the result and error types the publishing code reads,
and a request timeout for libraries that set none.

Errors are sorted by what the caller may do next, never by library:

- RateLimited (429 or the network's throttling codes): not posted; try again later.
- ServerError (5xx): probably not posted, but the network may have done it anyway; look it up
  before trying again.
- InDoubt (timeout, dropped connection, malformed answer to a create call): may have been
  posted; look it up, never post again blindly.
- AuthError (expired or revoked token): the account needs reconnecting.
- Rejected (4xx): the network will never take this; fail with its message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests
from requests.adapters import HTTPAdapter

REQUEST_TIMEOUT_SECONDS = 30


class NetworkError(Exception):
    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retry_at = retry_at


class RateLimited(NetworkError):
    pass


class ServerError(NetworkError):
    pass


class InDoubt(NetworkError):
    pass


class AuthError(NetworkError):
    pass


class Rejected(NetworkError):
    pass


@dataclass(frozen=True)
class ImageRef:
    """An image as an adapter needs it: bytes for X's upload, a URL Facebook/Instagram fetch."""

    filename: str
    content_type: str
    content: bytes
    public_url: str


@dataclass(frozen=True)
class Published:
    remote_id: str
    url: str


@dataclass(frozen=True)
class Metrics:
    likes: int | None
    comments: int | None
    shares: int | None
    impressions: int | None


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None


class _TimeoutAdapter(HTTPAdapter):
    """tweepy's Client sends without a timeout; a hung connection would hold a worker until
    the task's hard limit."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT_SECONDS
        return super().send(request, **kwargs)


def with_timeout(session: requests.Session) -> requests.Session:
    session.mount("https://", _TimeoutAdapter())
    session.mount("http://", _TimeoutAdapter())
    return session


def same_text(a: str, b: str) -> bool:
    """Whether a post found on a network is ours: the networks rewrite links (t.co) and trim
    whitespace, so compare the words outside links."""
    return _words(a) == _words(b)


def _words(text: str) -> list[str]:
    return [
        word
        for word in (text or "").split()
        if not word.lower().startswith(("http://", "https://"))
    ]
