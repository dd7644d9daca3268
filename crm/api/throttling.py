"""Per-key rate limits (api.md): reads 1,000/min, writes 100/min, and per-view scopes such as
campaign sends and event ingestion; and a limit on failed authentication per client address.

A sliding window (the weighted two-window estimate): an atomic Redis INCR counts this window,
and the previous window's count weighs in by the share of it still inside the last period. A
fixed window alone let a key make twice its limit across a boundary (the end of one minute and
the start of the next); this cannot. O(1) per request and exact across any number of web
processes, where DRF's stock throttle rewrites a list of timestamps per caller and undercounts
under concurrency. Keys are tenant-scoped by the cache's KEY_FUNCTION.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from crm.api.authentication import ServicePrincipal

if TYPE_CHECKING:  # DRF's views read the settings that name this module
    from rest_framework.views import APIView

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


@dataclass(frozen=True)
class SlidingWindow:
    """`limit` events per `period` seconds under the cache keys `<prefix>:<window number>`."""

    prefix: str
    limit: int
    period: int

    def _key(self, window: int) -> str:
        return f"{self.prefix}:{window}"

    def _wait(self, count: int, previous: int, window: int, now: float) -> float | None:
        """None if `count` events in this window (with `previous` in the last) fit, else the
        seconds until one more does."""
        elapsed = (now - window * self.period) / self.period
        if count + previous * (1 - elapsed) <= self.limit:
            return None
        if count > self.limit or not previous:
            return (window + 1) * self.period - now
        # Until enough of the previous window has slid out for one more.
        return max(0.0, (1 - (self.limit - count) / previous - elapsed) * self.period)

    def hit(self, now: float) -> float | None:
        """Count one event. None if it fits; else the seconds until one more fits, and this one
        is not counted (a refused request does not count against the caller)."""
        window = int(now // self.period)
        key = self._key(window)
        cache.add(key, 0, timeout=2 * self.period + 1)  # kept through the next window
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start the window again
            cache.set(key, 1, timeout=2 * self.period + 1)
            count = 1
        previous = cache.get(self._key(window - 1)) or 0
        wait = self._wait(count, previous, window, now)
        if wait is not None:
            cache.decr(key)
        return wait

    def full(self, now: float) -> float | None:
        """Without counting anything: None if one more event would fit, else the seconds
        until it does."""
        window = int(now // self.period)
        counts = cache.get_many([self._key(window), self._key(window - 1)])
        current = counts.get(self._key(window)) or 0
        previous = counts.get(self._key(window - 1)) or 0
        return self._wait(current + 1, previous, window, now)


def retry_after(wait: float) -> int:
    """Whole seconds for `Retry-After`: never 0, which would invite an immediate retry."""
    return max(1, math.ceil(wait - 1e-9))  # 18.000000000000004 s is 18


class CallerRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait = 0.0

    @staticmethod
    def scope_for(request: Request, view: APIView) -> str:
        explicit = getattr(view, "throttle_scope", None)
        if explicit:
            return str(explicit)
        return "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"

    def caller_ident(self, request: Request) -> str:
        user = getattr(request, "user", None)
        if isinstance(user, ServicePrincipal):
            return f"key:{user.api_key.pk}" if user.api_key else user.label
        if user is not None and getattr(user, "is_authenticated", False):
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = self.scope_for(request, view)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = parse_rate(str(rate))
        window = SlidingWindow(f"throttle:{scope}:{self.caller_ident(request)}", limit, period)
        wait = window.hit(time.time())
        if wait is None:
            return True
        self._wait = wait
        return False

    def wait(self) -> float:
        return retry_after(self._wait)


# --- Failed authentication per client address ---------------------------------------------------


class TooManyFailedAuthentications(Throttled):
    """429 for an address that failed authentication too often, before its key is checked."""

    default_code = "rate_limited"


AUTH_FAILURES_SCOPE = "auth_failures"


def client_address(request: HttpRequest | Request) -> str:
    """The caller's address as DRF's throttles see it: REMOTE_ADDR, or X-Forwarded-For as far
    as `NUM_PROXIES` trusted proxies vouch for it (with 0, a client cannot choose its own)."""
    # get_ident reads only META, which a Django request and DRF's wrapper both have.
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]


def _auth_failures_window(request: HttpRequest | Request) -> SlidingWindow | None:
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(AUTH_FAILURES_SCOPE)
    if not rate:
        return None
    limit, period = parse_rate(str(rate))
    return SlidingWindow(
        f"throttle:{AUTH_FAILURES_SCOPE}:ip:{client_address(request)}", limit, period
    )


def auth_failures_wait(request: HttpRequest | Request) -> int | None:
    """Seconds this address must wait because of its failed authentications, or None."""
    window = _auth_failures_window(request)
    wait = window.full(time.time()) if window else None
    return None if wait is None else retry_after(wait)


def auth_failure_record(request: HttpRequest | Request) -> None:
    """Count one failed authentication (a bad API key or signature, a wrong password) of this
    address. The cache's KEY_FUNCTION puts the club's schema in the key: one club's failures
    never lock an address out of another club."""
    window = _auth_failures_window(request)
    if window:
        window.hit(time.time())
